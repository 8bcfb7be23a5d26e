//go:build !linux

package wptrack

import "errors"

var errUnsupported = errors.New("write-protect tracking needs Linux 6.7 or later")

// Available reports why tracking cannot be used; nil when it can.
func Available() error { return errUnsupported }

// Region is a tracked range of memory.
type Region struct{}

// Range is the pages [Start, End) of a region, as byte offsets.
type Range struct{ Start, End uint64 }

// Register is unsupported here.
func Register([]byte) (*Region, error) { return nil, errUnsupported }

// Written is unsupported here.
func (r *Region) Written(dst []Range, _ bool) ([]Range, error) { return dst, errUnsupported }

// Protect is unsupported here.
func (r *Region) Protect(_, _ uint64) error { return errUnsupported }

// Close does nothing here.
func (r *Region) Close() {}
