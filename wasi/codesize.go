package wasi

import (
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/wasigate/wasigate/wasi/internal/rewrite"
)

// How much machine code a module costs, for the startup log and `wasigate
// check`. wazero does not say, but its compilation cache does: an entry
// starts with "WAZEVO", the wazero version, the number of functions, one
// 8-byte offset per function and the length of the machine code that
// follows (serializeCompiledModule in wazero's
// internal/engine/wazevo/engine_cache.go). The cache's marker of a module
// (cache.go) lists the entries that appeared while it compiled; the one
// with as many functions as the module defines is its own.

// definedFunctions is the number of functions wasm defines (its function
// section's count), or 0 when it cannot be read.
func definedFunctions(wasm []byte) int {
	if len(wasm) < 8 {
		return 0
	}
	for b := wasm[8:]; len(b) > 0; {
		id := b[0]
		size, n := rewrite.Uleb32(b[1:])
		if n == 0 || uint64(len(b)) < 1+uint64(n)+uint64(size) {
			return 0
		}
		body := b[1+n : 1+n+int(size)]
		if id == 3 {
			count, n := rewrite.Uleb32(body)
			if n == 0 {
				return 0
			}
			return int(count)
		}
		b = b[1+n+int(size):]
	}
	return 0
}

// codeSize returns the bytes of machine code of the module whose bytes as
// compiled hash to hash (hex) and define funcs functions, read from the
// compilation cache; 0 when there is no cache or no single entry fits.
func (e *Engine) codeSize(hash string, funcs int) int64 {
	if e.sealed == nil || funcs == 0 {
		return 0
	}
	list, err := os.ReadFile(filepath.Join(e.sealed.seenDir, hash))
	if err != nil {
		return 0
	}
	var size int64
	for _, entry := range strings.Fields(string(list)) {
		if !filepath.IsLocal(entry) {
			continue
		}
		n, code := cacheEntryHeader(filepath.Join(e.sealed.dir, entry))
		if n != funcs || code == 0 {
			continue
		}
		if size != 0 && size != code {
			return 0 // two candidates: do not guess
		}
		size = code
	}
	return size
}

// cacheEntryHeader reads the number of functions and the length of the
// machine code from the header of a wazero cache entry; 0, 0 if it is not
// one.
func cacheEntryHeader(path string) (funcs int, code int64) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	var head [7]byte
	if _, err := io.ReadFull(f, head[:]); err != nil || string(head[:6]) != "WAZEVO" {
		return 0, 0
	}
	var rest [255 + 4]byte
	vlen := int(head[6])
	if _, err := io.ReadFull(f, rest[:vlen+4]); err != nil {
		return 0, 0
	}
	n := int64(binary.LittleEndian.Uint32(rest[vlen:]))
	var l [8]byte
	if _, err := f.ReadAt(l[:], 7+int64(vlen)+4+8*n); err != nil {
		return 0, 0
	}
	return int(n), int64(binary.LittleEndian.Uint64(l[:]))
}

// CodeSize is the bytes of machine code the module's own compiled code
// takes, as its entry in the compilation cache says; 0 when unknown (no
// cache folder). Released code (Loaded false) no longer takes it.
func (m *Module) CodeSize() int64 { return m.engine.codeSize(validatedKey(m.Hash), m.code.funcs) }
