//go:build !unix

package snap

import "errors"

func reserve(uint64) ([]byte, error) { return nil, errors.New("no mmap") }
func release([]byte) error           { return errors.New("no madvise") }
func unreserve([]byte)               {}
