package wasi

import (
	"fmt"

	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// checkMemoryMin refuses a module whose memory starts larger than the
// limit: wazero takes the allocator's refusal of the minimum for a bug and
// panics (the bounds check in NewMemoryInstance, internal/wasm/memory.go),
// which took down a request, and a snapshot's init at startup.
func (m *Module) checkMemoryMin(limit uint64) error {
	for _, md := range m.compiled.ExportedMemories() {
		if need := uint64(md.Min()) * snap.PageSize; need > limit {
			return fmt.Errorf("%s: its memory starts at %d bytes, more than the memory limit of %d bytes", m.Name, need, limit)
		}
	}
	return nil
}

// MemoryError is a guest failure (a trap or a non-zero exit) that came
// after the guest was refused memory at its limit: most likely the cause.
type MemoryError struct {
	Limit uint64 // bytes
	Err   error  // how the guest ended
}

func (e *MemoryError) Error() string {
	return fmt.Sprintf("guest failed after reaching its memory limit (%d bytes): %v", e.Limit, e.Err)
}

func (e *MemoryError) Unwrap() error { return e.Err }

// MemoryLimitReached marks the error for callers that cannot import this
// package (host classifies errors by behaviour).
func (e *MemoryError) MemoryLimitReached() bool { return true }
