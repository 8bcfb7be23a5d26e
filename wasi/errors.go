package wasi

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wasigate/wasigate/wasi/internal/outbound"
	"github.com/wasigate/wasigate/wasi/internal/rewrite"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// The errors callers branch on (errors.Is). ExitError, MemoryError and
// toolchain.TooLargeError are the typed ones (errors.As).
var (
	// ErrMalformedModule is returned for module bytes that made wazero's
	// decoder or validator panic.
	ErrMalformedModule = errors.New("malformed module")

	// ErrModuleBounds is returned by Compile for module bytes that declare
	// more than they hold (rewrite.CheckBounds).
	ErrModuleBounds = rewrite.ErrModuleBounds

	// ErrModuleChanged is returned when a module's file no longer holds what
	// was compiled, so that its code or a snapshot of it cannot be made again.
	ErrModuleChanged = errors.New("the module file changed since it was loaded")

	// ErrTooLarge is returned for a module file larger than the engine's
	// MaxModuleSize (a *toolchain.TooLargeError).
	ErrTooLarge = toolchain.ErrTooLarge

	// ErrNoWat2Wasm is returned for .wat modules when wat2wasm is not on PATH.
	ErrNoWat2Wasm = toolchain.ErrNoWat2Wasm

	// ErrReservedName is returned by Compile for a module that imports or
	// exports a name starting with "wasigate.", which the deadline checks use.
	ErrReservedName = rewrite.ErrReservedName

	// ErrNotInstrumented is returned by Compile for a module wazero accepts
	// but the deadline rewriter cannot read: it is refused rather than run
	// without checks. Options.Deadline = DeadlineWazero runs it with wazero's.
	ErrNotInstrumented = rewrite.ErrNoInstrument

	// ErrNoSnapshot wraps every reason a program runs without a snapshot.
	ErrNoSnapshot = rewrite.ErrNoSnapshot

	// ErrInitFailed is the cause of a snapshot refused because the
	// interpreter's init (its preloads) failed, not because of the snapshot.
	ErrInitFailed = errors.New("the interpreter's init failed")

	// ErrInitEdited wraps the failure of an interpreter's init taken again
	// because a file it read from a watched folder changed
	// (Config.WatchInit): the program answers it until the next change.
	ErrInitEdited = errors.New("the interpreter's init failed after an edit")

	// ErrAppLoad wraps the failure of an application's init: the file raised
	// at import, lacks its callable, or a warm-up request failed.
	ErrAppLoad = errors.New("application failed to load")

	// ErrJSInterop is the trap of every JavaScript interop call a Ruby script
	// makes (require "js"): wasigate has no JavaScript engine.
	ErrJSInterop = errors.New("javascript interop is not available in wasigate")

	// ErrRetired is returned by Acquire once Close was called.
	ErrRetired = errors.New("scripts route retired by a reload")

	// ErrAllowedHost is wrapped by newOutbound's error for an invalid
	// allowed_hosts entry.
	ErrAllowedHost = outbound.ErrAllowedHost
)

// EditError is Program.Refresh's error when the init taken again after an
// edit failed: Files are the guest paths of the files that changed, Err
// the init's failure (its stderr's end included).
type EditError struct {
	Files []string
	Err   error
}

func (e *EditError) Error() string {
	return fmt.Sprintf("%v of %s (fix it and save: the next request takes the snapshot again): %v", ErrInitEdited, strings.Join(e.Files, ", "), e.Err)
}

// Unwrap gives ErrInitEdited and the init's error.
func (e *EditError) Unwrap() []error { return []error{ErrInitEdited, e.Err} }

// EditedFiles says which files changed, for a caller that does not import
// this package (router).
func (e *EditError) EditedFiles() []string { return e.Files }
