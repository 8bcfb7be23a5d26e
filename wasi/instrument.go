package wasi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// The deadline instrumentation (issue 13). wazero's WithCloseOnContextDone
// makes every loop back-edge exit to Go to look at the module's state,
// which made a tight C loop 2.8x and an interpreter's start-up 2.3x slower.
// Instead, the module gets one mutable i32 global, exported as
// interruptExport, and every function entry and every loop header starts
// with
//
//	global.get $interrupt
//	if
//	  unreachable
//	end
//
// a load, a compare and a branch that is not taken. When the run's context
// ends, a watcher sets the global from another goroutine (deadline.go) and
// the guest traps at its next loop iteration or call. Checking both places
// bounds the time to stop for infinite loops and for recursion without
// loops; straight-line code between two checks is bounded by the size of a
// function body. Nothing is renumbered: the global is appended after the
// module's own (imported globals come first), so no existing index moves,
// and trapping rather than calling a host function needs no new import.

// interruptExport is the reserved export name of the interrupt global.
const interruptExport = "wasigate.interrupt"

// errNoInstrument means the module is left as it is and must run with
// wazero's own check (deadline.go).
var errNoInstrument = errors.New("module not instrumented")

// instrument returns wasm with the deadline checks added. Its output is
// valid whenever wasm is; every allocation is bounded by a constant factor
// of len(wasm) (a check is 6 bytes at most per body and per loop opcode,
// and each of those takes at least one input byte plus its function).
func instrument(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) || binary.LittleEndian.Uint32(wasm[4:8]) != 1 {
		return nil, fmt.Errorf("%w: not a wasm binary module", errNoInstrument)
	}
	type section struct {
		id         byte
		start, end int // whole section, header included
		body       []byte
	}
	var secs []section
	for pos := 8; pos < len(wasm); {
		id := wasm[pos]
		size, n := uleb32(wasm[pos+1:])
		if n == 0 || uint64(pos)+1+uint64(n)+uint64(size) > uint64(len(wasm)) {
			return nil, fmt.Errorf("%w: truncated section", errNoInstrument)
		}
		body := wasm[pos+1+n : pos+1+n+int(size)]
		secs = append(secs, section{id, pos, pos + 1 + n + int(size), body})
		pos += 1 + n + int(size)
	}
	var globals uint32
	var exports []byte
	for _, s := range secs {
		switch s.id {
		case 2:
			g, err := importedGlobals(s.body)
			if err != nil {
				return nil, err
			}
			globals += g
		case 6:
			c, n := uleb32(s.body)
			if n == 0 {
				return nil, fmt.Errorf("%w: global section", errNoInstrument)
			}
			globals += c
		case 7:
			exports = s.body
		case 8:
			// A start function runs inside InstantiateModule, before the
			// host can reach the global to interrupt it.
			return nil, fmt.Errorf("%w: has a start function", errNoInstrument)
		}
	}
	if exports != nil && exportsName(exports, interruptExport) {
		return nil, fmt.Errorf("%w: already exports %s", errNoInstrument, interruptExport)
	}
	check := []byte{0x23}
	check = binary.AppendUvarint(check, uint64(globals))
	check = append(check, 0x04, 0x40, 0x00, 0x0b) // if (empty) unreachable end

	out := make([]byte, 0, len(wasm)+len(wasm)/2+64)
	out = append(out, wasm[:8]...)
	addedGlobal, addedExport := false, false
	// Sections keep their order; a missing global or export section is
	// added where the binary format's order puts it.
	addMissing := func(before byte) {
		if !addedGlobal && sectionRank(before) > sectionRank(6) {
			out = appendSection(out, 6, appendGlobal(binary.AppendUvarint(nil, 1)))
			addedGlobal = true
		}
		if !addedExport && sectionRank(before) > sectionRank(7) {
			out = appendSection(out, 7, appendExport(binary.AppendUvarint(nil, 1), globals))
			addedExport = true
		}
	}
	for _, s := range secs {
		if s.id != 0 {
			addMissing(s.id)
		}
		switch s.id {
		case 6:
			c, n := uleb32(s.body)
			body := binary.AppendUvarint(make([]byte, 0, len(s.body)+16), uint64(c)+1)
			out = appendSection(out, 6, appendGlobal(append(body, s.body[n:]...)))
			addedGlobal = true
		case 7:
			c, n := uleb32(s.body)
			body := binary.AppendUvarint(make([]byte, 0, len(s.body)+32), uint64(c)+1)
			out = appendSection(out, 7, appendExport(append(body, s.body[n:]...), globals))
			addedExport = true
		case 10:
			code, err := instrumentCode(s.body, check)
			if err != nil {
				return nil, err
			}
			out = appendSection(out, 10, code)
		default:
			out = append(out, wasm[s.start:s.end]...)
		}
	}
	addMissing(255)
	return out, nil
}

// sectionRank is the position of a section id in the order the binary
// format requires (the tag section, 13, sits between memory and global;
// data count, 12, before code). Unknown ids sort last.
func sectionRank(id byte) int {
	switch {
	case id >= 1 && id <= 5:
		return int(id)
	case id == 13:
		return 6
	case id >= 6 && id <= 9:
		return int(id) + 1
	case id == 12:
		return 11
	case id == 10 || id == 11:
		return int(id) + 2
	}
	return 100
}

func appendSection(out []byte, id byte, body []byte) []byte {
	out = append(out, id)
	out = binary.AppendUvarint(out, uint64(len(body)))
	return append(out, body...)
}

// appendGlobal appends the interrupt global: mutable i32 = 0.
func appendGlobal(b []byte) []byte { return append(b, 0x7f, 0x01, 0x41, 0x00, 0x0b) }

// appendExport appends the export of global index g as interruptExport.
func appendExport(b []byte, g uint32) []byte {
	b = binary.AppendUvarint(b, uint64(len(interruptExport)))
	b = append(b, interruptExport...)
	b = append(b, 0x03)
	return binary.AppendUvarint(b, uint64(g))
}

// importedGlobals counts the globals an import section imports.
func importedGlobals(sec []byte) (uint32, error) {
	bad := fmt.Errorf("%w: import section", errNoInstrument)
	count, p := uleb32(sec)
	if p == 0 {
		return 0, bad
	}
	var globals uint32
	for range count {
		for range 2 { // module and field names
			l, n := uleb32(sec[p:])
			if n == 0 || uint64(p)+uint64(n)+uint64(l) > uint64(len(sec)) {
				return 0, bad
			}
			p += n + int(l)
		}
		if p >= len(sec) {
			return 0, bad
		}
		kind := sec[p]
		p++
		var n int
		switch kind {
		case 0, 4: // function: type index; tag: attribute is a byte, then type index
			if kind == 4 {
				p++
			}
			_, n = uleb32(sec[min(p, len(sec)):])
		case 1: // table: reference type, limits
			n = skipLimits(sec[min(p+1, len(sec)):])
			if n > 0 {
				n++
			}
		case 2: // memory: limits, with the shared and 64-bit flags
			n = skipMemLimits(sec[p:])
		case 3: // global: value type, mutability
			globals++
			n = 2
		}
		if n == 0 || p+n > len(sec) {
			return 0, bad
		}
		p += n
	}
	return globals, nil
}

// skipMemLimits returns the length of a memory type's limits, or 0.
func skipMemLimits(b []byte) int {
	if len(b) == 0 || b[0] > 7 {
		return 0
	}
	p := 1
	for range 1 + int(b[0]&1) {
		n := skipLeb(b[min(p, len(b)):], 10)
		if n == 0 {
			return 0
		}
		p += n
	}
	return p
}

// exportsName reports whether an export section has an export called
// name (or cannot be read, which the caller treats the same way).
func exportsName(sec []byte, name string) bool {
	count, p := uleb32(sec)
	if p == 0 {
		return true
	}
	for range count {
		l, n := uleb32(sec[p:])
		if n == 0 || uint64(p)+uint64(n)+uint64(l) > uint64(len(sec)) {
			return true
		}
		if string(sec[p+n:p+n+int(l)]) == name {
			return true
		}
		p += n + int(l)
		if p >= len(sec) {
			return true
		}
		_, n = uleb32(sec[p+1:])
		if n == 0 {
			return true
		}
		p += 1 + n
	}
	return false
}

// skipLeb returns the length of a LEB128 number of at most max bytes, or 0.
func skipLeb(b []byte, max int) int {
	for i := 0; i < len(b) && i < max; i++ {
		if b[i]&0x80 == 0 {
			return i + 1
		}
	}
	return 0
}
