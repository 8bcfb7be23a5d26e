package toolchain

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/wasigate/wasigate/host/seam"
)

// DefaultMaxModuleSize is the largest module read when none is
// configured ([server] max_module_size): ruby.wasm with its standard
// library is about 50 MB.
const DefaultMaxModuleSize = seam.DefaultMaxModuleSize

// ErrTooLarge is wrapped by a TooLargeError.
var ErrTooLarge = errors.New("module too large")

// TooLargeError is a module, dropped or built, larger than the server
// reads. It is decided from the file's size before any byte is read:
// a 135-byte C file (char big[256<<20] = {1};) links to a 257 MB module,
// and reading it in full took the server from 15 MB to 1.33 GB.
type TooLargeError struct {
	Path string
	Size int64 // bytes, or at least this many when not known exactly
	Max  int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("module %s is %d bytes, over max_module_size (%d bytes): make it smaller or raise [server] max_module_size",
		e.Path, e.Size, e.Max)
}

// Unwrap lets errors.Is match ErrTooLarge.
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// TooLarge reports that the module was refused for its size: a server
// answers it with its own reason ("too large") rather than as a failed
// build.
func (e *TooLargeError) TooLarge() bool { return true }

// maxOr is max, or DefaultMaxModuleSize when max is not positive.
func maxOr(max int64) int64 {
	if max <= 0 {
		return DefaultMaxModuleSize
	}
	return max
}

// ReadModule reads the binary module at path if it is at most max bytes
// (0: DefaultMaxModuleSize). The size is taken from the opened file, so a
// file swapped after a check cannot slip a larger one in, and a file that
// grows while it is read is cut at max+1 bytes and refused.
func ReadModule(path string, max int64) ([]byte, error) {
	max = maxOr(max)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("module %s: not a regular file", path)
	}
	if st.Size() > max {
		return nil, &TooLargeError{Path: path, Size: st.Size(), Max: max}
	}
	b := make([]byte, 0, st.Size()+1) // +1: the read that sees EOF
	b, err = readAll(io.LimitReader(f, max+1), b)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, &TooLargeError{Path: path, Size: int64(len(b)), Max: max}
	}
	return b, nil
}

// readAll is io.ReadAll into b's capacity.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// checkSize refuses the file at path when it is larger than max, before
// anyone reads it; src names the source in the error.
func checkSize(path, src string, max int64) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Size() > max {
		return &TooLargeError{Path: src, Size: st.Size(), Max: max}
	}
	return nil
}

// WAT2WasmMax is WAT2Wasm with wat2wasm's output bounded by max bytes (0:
// DefaultMaxModuleSize): past it the conversion stops and the module is
// refused.
func WAT2WasmMax(path string, max int64) ([]byte, error) {
	max = maxOr(max)
	bin, err := exec.LookPath("wat2wasm")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, ErrNoWat2Wasm)
	}
	var stderr bytes.Buffer
	out := &limitWriter{max: max}
	cmd := exec.Command(bin, "--output=-", path)
	cmd.Stdout, cmd.Stderr = out, &stderr
	err = cmd.Run()
	if out.over {
		return nil, &TooLargeError{Path: path, Size: max + 1, Max: max}
	}
	if err != nil {
		return nil, fmt.Errorf("wat2wasm %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	return out.buf.Bytes(), nil
}

// errOverMax stops a copy into a limitWriter.
var errOverMax = errors.New("over the size limit")

// limitWriter keeps up to max bytes and fails the write that would pass
// them, which ends the copy from the child's stdout (the child then gets
// EPIPE).
type limitWriter struct {
	buf  bytes.Buffer
	max  int64
	over bool
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if int64(w.buf.Len())+int64(len(p)) > w.max {
		w.over = true
		return 0, errOverMax
	}
	return w.buf.Write(p)
}
