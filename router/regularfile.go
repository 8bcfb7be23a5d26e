package router

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// errSpecialFile refuses a FIFO, a device or a socket where a file is to be
// served.
var errSpecialFile = errors.New("not a regular file")

// openRegular opens name in root for reading if it is a regular file, and
// never blocks doing so. open(2) of a FIFO waits in the kernel until a
// writer comes: no context or timeout reaches it, so each such request
// held its goroutine, its thread and its concurrency slot for good, and
// opening a device can act on the device (a tape rewinds, a terminal
// becomes the controlling one). So the type is read first without opening
// (stat), the file is opened with O_NONBLOCK and O_NOCTTY (open returns at
// once whatever the name became in between), and the descriptor's own
// type is checked again before a byte is read.
func openRegular(root *os.Root, name string) (*os.File, error) {
	st, err := root.Stat(name)
	if err != nil {
		return nil, err
	}
	if err := regular(name, st); err != nil {
		return nil, err
	}
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	if st, err = f.Stat(); err == nil {
		err = regular(name, st)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// regular says what name is when it is not a regular file.
func regular(name string, st fs.FileInfo) error {
	m := st.Mode()
	if m.IsRegular() {
		return nil
	}
	what := "a folder"
	switch {
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeDevice != 0:
		what = "a device"
	case !m.IsDir():
		what = "a " + m.Type().String() + " file"
	}
	return fmt.Errorf("%s is %s: %w", name, what, errSpecialFile)
}
