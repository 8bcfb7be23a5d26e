package toolchain

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestInputsRefuseFIFO: a FIFO in a Go folder script is refused when the
// build's inputs are listed, before anything reads it: hashing it would
// wait in open(2), in the server's process, for a writer that never comes,
// holding the build slot for good.
func TestInputsRefuseFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pipe := filepath.Join(dir, "data.txt")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	defer func() { // let a stuck open go when the test ends
		if f, err := os.OpenFile(pipe, os.O_RDWR, 0); err == nil {
			f.Close()
		}
	}()
	done := make(chan error, 1)
	go func() {
		_, err := hashSource(dir, Go, "go")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("hash of a folder holding a FIFO: got %v; want %v", err, ErrNotRegular)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("hash of a folder holding a FIFO still blocked after 2s")
	}
}
