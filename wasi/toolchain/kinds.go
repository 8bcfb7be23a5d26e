package toolchain

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Kind is a kind of source, chosen by file extension.
type Kind string

// Kinds of source.
const (
	Wasm Kind = ".wasm"
	WAT  Kind = ".wat"
	Go   Kind = ".go"
	C    Kind = ".c"
	Rust Kind = ".rs"
)

// Kinds are every kind of source wasigate runs or builds: the one list of
// their extensions, which router and the loader both ask. A folder of .go
// files is a Go source too.
var Kinds = []Kind{Wasm, WAT, Go, C, Rust}

// IsKindExt reports whether ext (".go") is the extension of a kind of
// source, so that nothing else (an interpreter) may claim it.
func IsKindExt(ext string) bool {
	for _, k := range Kinds {
		if string(k) == ext {
			return true
		}
	}
	return false
}

// KindsText lists the kinds for messages: ".wasm, .wat, .go, .c, .rs or a Go folder".
func KindsText() string {
	exts := make([]string, len(Kinds))
	for i, k := range Kinds {
		exts[i] = string(k)
	}
	return strings.Join(exts, ", ") + " or a Go folder"
}

// KindOf returns the kind of the file or folder at path, or "" when it is
// not a script. A folder is a Go program when it holds .go files.
func KindOf(path string) Kind {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		if m, _ := filepath.Glob(filepath.Join(path, "*.go")); len(m) > 0 {
			return Go
		}
		return ""
	}
	if k := Kind(filepath.Ext(path)); IsKindExt(string(k)) {
		return k
	}
	return ""
}

// Inputs lists the files that decide what src builds to, sorted: src
// itself, or every file of a folder (hidden folders left out), and for Go
// the go.mod and go.sum of the module around it. The build cache hashes
// their contents; a scripts route compares their sizes and times to know
// when to build again (one place knows which files matter).
func Inputs(src string) ([]string, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	var files []string
	if st.IsDir() {
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != src {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				if err := regularInput(p); err != nil {
					return err
				}
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	} else {
		if err := regularInput(src); err != nil {
			return nil, err
		}
		files = append(files, src)
	}
	if KindOf(src) == Go {
		dir := src
		if !st.IsDir() {
			dir = filepath.Dir(src)
		}
		if mod := findGoMod(dir); mod != "" {
			files = append(files, mod)
			if sum := filepath.Join(filepath.Dir(mod), "go.sum"); exists(sum) {
				files = append(files, sum)
			}
		}
	}
	sort.Strings(files)
	return compactSorted(files), nil
}

// ErrNotRegular refuses a source that is a FIFO, a device or a socket.
var ErrNotRegular = errors.New("only regular files are built")

// regularInput refuses a source file (or what its link leads to) that is
// not a regular file: hashing or compiling a FIFO would wait in open(2) for
// a writer, in the server's process, where no build timeout reaches.
func regularInput(p string) error {
	st, err := os.Stat(p)
	if err != nil || st.Mode().IsRegular() {
		return nil // a dangling link is the compiler's to report
	}
	return fmt.Errorf("%s is %v: %w", p, st.Mode().Type(), ErrNotRegular)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// compactSorted drops repeats from a sorted list (a folder's own go.mod is
// both one of its files and the module's).
func compactSorted(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func findGoMod(dir string) string {
	for {
		p := filepath.Join(dir, "go.mod")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// ErrNoWat2Wasm is returned for .wat modules when wat2wasm is not on PATH.
var ErrNoWat2Wasm = errors.New("wat2wasm not found on PATH (Debian: apt-get install wabt)")

// WAT2Wasm converts the WebAssembly text at path with wat2wasm, in the
// server's own process (no sandbox): for modules a configuration names,
// which the operator wrote. Scripts' .wat files are built by a Builder.
func WAT2Wasm(path string) ([]byte, error) { return WAT2WasmMax(path, 0) }
