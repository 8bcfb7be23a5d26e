package toolchain

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
)

// ErrToolchain is wrapped by a ToolchainError.
var ErrToolchain = errors.New("toolchain not installed")

// ToolchainError says which tool is missing and which Debian packages
// provide it.
type ToolchainError struct {
	Kind     Kind
	Tool     string
	Packages string
}

func (e *ToolchainError) Error() string {
	return fmt.Sprintf("cannot build %s scripts: %s not found (Debian: apt-get install %s)", e.Kind, e.Tool, e.Packages)
}

// Toolchain reports that the error is about the machine, not the source:
// its text names what to install, and a server may show it to clients
// (router's scripts routes do, with the reason "toolchain").
func (e *ToolchainError) Toolchain() bool { return true }

// Unwrap lets errors.Is match ErrToolchain.
func (e *ToolchainError) Unwrap() error { return ErrToolchain }

// Error is a failed build with the compiler's output.
type Error struct {
	Source string
	Output string
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("build %s: %v\n%s", e.Source, e.Err, e.Output)
}

func (e *Error) Unwrap() error { return e.Err }

// classify turns a failed toolchain run into the error to report: a
// missing part of the toolchain, a limit, or the compiler's complaint.
func classify(ctx context.Context, kind Kind, src, msg string, err error, lim Limits) error {
	var ee *exec.ExitError
	sig := syscall.Signal(0)
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig = ws.Signal()
		}
	}
	low := strings.ToLower(msg)
	switch {
	case ctx.Err() != nil:
		return &Error{Source: src, Output: msg, Err: fmt.Errorf("%w (%v)", ErrBuildTimeout, lim.Timeout)}
	case sig == syscall.SIGXCPU:
		return &Error{Source: src, Output: msg, Err: fmt.Errorf("%w: cpu time (%v)", ErrBuildTimeout, lim.Timeout)}
	case sig == syscall.SIGXFSZ || strings.Contains(low, "file too large"):
		return &Error{Source: src, Output: msg, Err: fmt.Errorf("%w (%d bytes)", ErrBuildOutput, lim.Memory)}
	case strings.Contains(low, "out of memory") || strings.Contains(low, "bad_alloc") ||
		strings.Contains(low, "cannot allocate memory") || strings.Contains(low, "memory allocation of"):
		return &Error{Source: src, Output: msg, Err: fmt.Errorf("%w (%d bytes)", ErrBuildMemory, lim.Memory)}
	case kind == Rust && strings.Contains(msg, "can't find crate for `std`"):
		return &ToolchainError{Kind: kind, Tool: "the wasm32-wasi Rust standard library", Packages: "libstd-rust-dev-wasm32"}
	case kind == Rust && strings.Contains(msg, "linker `rust-lld` not found"):
		return &ToolchainError{Kind: kind, Tool: "rust-lld, the linker rustc uses for wasm32-wasi", Packages: "rustc lld"}
	case kind == C && (strings.Contains(msg, "stdio.h' file not found") || strings.Contains(msg, "unable to find library") || strings.Contains(msg, "wasm-ld: command not found")):
		return &ToolchainError{Kind: kind, Tool: "wasi-libc or wasm-ld", Packages: "lld wasi-libc libclang-rt-dev-wasm32"}
	}
	return &Error{Source: src, Output: msg, Err: err}
}
