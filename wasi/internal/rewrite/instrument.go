package rewrite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// The deadline instrumentation
// (cmd/wasigate/DECISIONS.md#guests-are-stopped-by-compiled-checks).
// wazero's WithCloseOnContextDone makes every loop back-edge exit to Go to
// look at the module's state, which made a tight C loop 2.8x and an
// interpreter's start-up 2.3x slower. Instead, the module gets two mutable
// i32 globals, a counter and an interrupt flag (exported as
// InterruptExport), each function that needs a check gets a scratch i32
// local $n, and the header of every loop, the entry of every function that
// contains a call or whose longest path is over maxUnchecked, and the point
// just after every call with work after it (instrument_scan.go) get a check
// of weight w:
//
//	global.get $count  i32.const w  i32.add  local.tee $n  global.set $count
//	local.get $n  i32.const checkEvery-1  i32.and  i32.const w  i32.lt_u
//	if
//	  i32.const 0  memory.grow 0  drop     ;; a trip through Go
//	  global.get $interrupt
//	  if unreachable end
//	end
//
// The low bits fall below w exactly when the addition passed a multiple
// of checkEvery (w is at most checkEvery), so the guest trips once per
// checkEvery units of weight. A loop without a call gets the same count
// with the trip moved out of the loop and the counter kept in $n
// (instrument_loop.go). Bulk memory and table instructions get a check
// of their own that adds their length (appendBulk).
//
// When the run's context ends, a watcher sets the flag from another
// goroutine (wasi/deadline.go) and the guest traps at its next trip. The trip
// matters as much as the flag: Go cannot preempt machine code, so a guest
// that never leaves it holds up every stop-the-world of the garbage
// collector, the watcher's goroutine included, and the process hangs.
// wazero's memory.grow always exits to Go, and growing by 0 pages changes
// nothing.
//
// What bounds the work between two trips: a check's weight is the
// longest forward path from it to the next check (instrument_scan.go), and
// execution between two checks of one activation only moves forward (a
// backward jump is to a loop header, which checks); a call is charged for
// the callee's path when the callee has no check of its own (then it has
// neither loop nor call and at most maxUnchecked instructions); and a call
// with any work after it (a path longer than maxTail, 0) is followed by a
// check, so a frame that its callee returns to is at a check or at its
// own return. So from one trip to the next a guest runs at most
// checkEvery units plus the weight of the check that tripped (the work it
// covers runs after the trip; at most checkEvery), plus one bulk
// instruction (its check comes before it, so the longest is one
// instruction on the whole memory), plus a bare return for each frame that
// was on the stack at the first trip: whatever the depth, no frame runs
// work of its own that no check since the trip has weighed.
//
// Weighing by path length rather than counting checks is what stops a
// loop of 64 MiB memory.fills, or a loop calling a straight-line function
// of 200 of them, from running seconds between trips.
//
// Why this shape (each measured against the others on spin.wasm, a C loop
// of 3x10^8 iterations): the first version decremented the global, read it
// back and reset it at each trip: 1.54x. Reading the new value back through
// the scratch local (local.tee) instead: the same. Counting up and masking,
// which needs no reset: 1.26x, in every interleaved run (the hot loop
// differs by one instruction; the rest is how wazero's compiler lays the
// function out). Keeping the count itself in a local across the loop was
// slower (1.7-1.9x): wazero's register allocator spills a value live across
// the trip on every iteration. A larger checkEvery gained nothing: trips
// are not the cost. What the machine code showed was left
// (instrument_loop.go): the trip, a call, makes wazero keep the loop's
// variables in memory, and the counter is a chain through memory; a loop
// without a call now avoids both: 1.01x. Adding a weight instead of 1 and
// comparing with it instead of testing for zero keeps that shape: one more
// constant operand.
//
// No index is renumbered: the globals are appended after the module's own
// (imported globals come first) and the locals after the function's own,
// so no existing index moves, and trapping needs no new import. Only the
// labels of branches out of a wrapped loop change (instrument_loop.go).
// Because appending makes indexes valid that were not, the module must be
// validated as given first (the engine does), and the rewriter refuses an
// index past what the original declares anyway.

// checkEvery is the budget between two trips through Go (a power of two:
// the checks mask the counter), in units of about one instruction: each
// check adds its weight, the longest path the guest can run from it
// before the next check (instrument_scan.go), and each bulk memory or
// table instruction its length (16 bytes or 2 elements a unit); a guest
// trips when the counter passes a multiple of checkEvery. The longest
// path is pessimistic for an interpreter's dispatch loop (the path through
// its largest handler, each call counted as a callee's worth): at 2^14
// units Ruby's init tripped at almost every iteration and ran over 30 s
// instead of 70 ms; at 2^20 it costs 1.01x against no check.
var checkEvery int32 = 1 << 20

// SetCheckEvery sets the budget between trips (a power of two, at least
// 2) and returns the one before, for tests that need trips sooner.
func SetCheckEvery(n int32) int32 {
	old := checkEvery
	checkEvery = n
	return old
}

// maxLocals bounds a function's parameters and locals before the ones
// added: no real guest comes near it, and it keeps the new locals'
// indexes far from any limit.
const maxLocals = 1 << 20

// InterruptExport is the reserved export name of the interrupt global.
const InterruptExport = "wasigate.interrupt"

// StartExport is the reserved export name under which an instrumented
// module exports its start function: a start section would run inside
// wazero's instantiation, before the host can reach the interrupt flag,
// so the section is removed and the host calls this export right after
// instantiating, before anything else.
const StartExport = "wasigate.start"

// reservedPrefix starts the names wasigate adds; a module that imports or
// exports one is refused.
const reservedPrefix = "wasigate."

// ErrNoInstrument means the rewriter cannot read the module (or finds an
// index it does not declare), so it cannot add the deadline checks.
var ErrNoInstrument = errors.New("module not instrumented")

// ErrReservedName means the module imports or exports a name that
// wasigate reserves for its deadline checks.
var ErrReservedName = errors.New("name reserved for wasigate")

// Instrument returns wasm with the deadline checks added. Its output is
// valid whenever wasm is; every allocation is bounded by a constant factor
// of len(wasm): a check (under 80 bytes, the wrapping of a loop included)
// is added per function body, per loop opcode, per call and per bulk
// instruction, a
// branch's label grows by at most 4 bytes, and each of those takes at
// least 2 input bytes.
//
// A module without memory gets one that it cannot reach (the rewriter
// refuses memory instructions in it; nothing exports it), for the trip
// through Go. Its start function, if any, becomes the export StartExport.
func Instrument(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) || binary.LittleEndian.Uint32(wasm[4:8]) != 1 {
		return nil, fmt.Errorf("%w: not a wasm binary module", ErrNoInstrument)
	}
	type section struct {
		id         byte
		start, end int // whole section, header included
		body       []byte
	}
	var secs []section
	for pos := 8; pos < len(wasm); {
		id := wasm[pos]
		size, n := Uleb32(wasm[pos+1:])
		if n == 0 || uint64(pos)+1+uint64(n)+uint64(size) > uint64(len(wasm)) {
			return nil, fmt.Errorf("%w: truncated section", ErrNoInstrument)
		}
		body := wasm[pos+1+n : pos+1+n+int(size)]
		secs = append(secs, section{id, pos, pos + 1 + n + int(size), body})
		pos += 1 + n + int(size)
	}
	var lim limits
	var memories uint32
	var exports, types, funcs, code []byte
	start := int64(-1)
	for _, s := range secs {
		switch s.id {
		case 1:
			types = s.body
		case 3:
			funcs = s.body
		case 2:
			im, err := readImports(s.body)
			if err != nil {
				return nil, err
			}
			lim.globals, lim.funcs, memories = lim.globals+uint64(im.globals), lim.funcs+uint64(im.funcs), memories+im.memories
		case 5:
			c, n := Uleb32(s.body)
			if n == 0 {
				return nil, fmt.Errorf("%w: memory section", ErrNoInstrument)
			}
			memories += c
		case 6:
			c, n := Uleb32(s.body)
			if n == 0 {
				return nil, fmt.Errorf("%w: global section", ErrNoInstrument)
			}
			lim.globals += uint64(c)
		case 7:
			exports = s.body
		case 8:
			f, n := Uleb32(s.body)
			if n == 0 || n != len(s.body) || start >= 0 {
				return nil, fmt.Errorf("%w: start section", ErrNoInstrument)
			}
			start = int64(f)
		case 10:
			code = s.body
		}
	}
	lim.memory = memories > 0
	if exports != nil {
		if err := checkExportNames(exports); err != nil {
			return nil, err
		}
	}
	params, err := paramCounts(types, funcs)
	if err != nil {
		return nil, err
	}
	lim.funcs += uint64(len(params))
	if start >= 0 && uint64(start) >= lim.funcs {
		return nil, fmt.Errorf("%w: start function %d not declared", ErrNoInstrument, start)
	}
	if code == nil && len(params) > 0 {
		return nil, fmt.Errorf("%w: functions without a code section", ErrNoInstrument)
	}
	globals := lim.globals
	cks := checks{count: binary.AppendUvarint(nil, globals), flag: binary.AppendUvarint(nil, globals+1)}
	newExports := func(b []byte) []byte {
		b = appendExport(b, InterruptExport, 0x03, uint32(globals+1))
		if start >= 0 {
			b = appendExport(b, StartExport, 0x00, uint32(start))
		}
		return b
	}
	added := uint64(1)
	if start >= 0 {
		added++
	}

	out := make([]byte, 0, len(wasm)+len(wasm)/2+64)
	out = append(out, wasm[:8]...)
	addedMemory, addedGlobal, addedExport := lim.memory, false, false
	// Sections keep their order; a missing memory, global or export
	// section is added where the binary format's order puts it.
	addMissing := func(before byte) {
		if !addedMemory && sectionRank(before) > sectionRank(5) {
			out = appendSection(out, 5, []byte{1, 1, 0, 0}) // one memory, 0 pages, at most 0
			addedMemory = true
		}
		if !addedGlobal && sectionRank(before) > sectionRank(6) {
			out = appendSection(out, 6, appendGlobals(binary.AppendUvarint(nil, 2)))
			addedGlobal = true
		}
		if !addedExport && sectionRank(before) > sectionRank(7) {
			out = appendSection(out, 7, newExports(binary.AppendUvarint(nil, added)))
			addedExport = true
		}
	}
	for _, s := range secs {
		if s.id != 0 {
			addMissing(s.id)
		}
		switch s.id {
		case 6:
			c, n := Uleb32(s.body)
			body := binary.AppendUvarint(make([]byte, 0, len(s.body)+16), uint64(c)+2)
			out = appendSection(out, 6, appendGlobals(append(body, s.body[n:]...)))
			addedGlobal = true
		case 7:
			c, n := Uleb32(s.body)
			body := binary.AppendUvarint(make([]byte, 0, len(s.body)+48), uint64(c)+added)
			out = appendSection(out, 7, newExports(append(body, s.body[n:]...)))
			addedExport = true
		case 8:
			// The start function is exported instead (StartExport).
		case 10:
			code, err := instrumentCode(s.body, params, &cks, lim)
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

// appendGlobals appends the counter and the interrupt flag, both mutable
// i32 = 0.
func appendGlobals(b []byte) []byte {
	return append(b, 0x7f, 0x01, 0x41, 0x00, 0x0b, 0x7f, 0x01, 0x41, 0x00, 0x0b)
}

// appendExport appends an export of index i of the given kind.
func appendExport(b []byte, name string, kind byte, i uint32) []byte {
	b = binary.AppendUvarint(b, uint64(len(name)))
	b = append(append(b, name...), kind)
	return binary.AppendUvarint(b, uint64(i))
}

// imports is what an import section brings in.
type imports struct {
	globals, funcs, memories uint32
}

// readImports counts what an import section imports, and refuses the
// names wasigate reserves.
func readImports(sec []byte) (imports, error) {
	var im imports
	bad := fmt.Errorf("%w: import section", ErrNoInstrument)
	count, p := Uleb32(sec)
	if p == 0 {
		return im, bad
	}
	for range count {
		for range 2 { // module and field names
			l, n := Uleb32(sec[p:])
			if n == 0 || uint64(p)+uint64(n)+uint64(l) > uint64(len(sec)) {
				return im, bad
			}
			if name := string(sec[p+n : p+n+int(l)]); strings.HasPrefix(name, reservedPrefix) {
				return im, fmt.Errorf("%w: imports %q", ErrReservedName, name)
			}
			p += n + int(l)
		}
		if p >= len(sec) {
			return im, bad
		}
		kind := sec[p]
		p++
		var n int
		switch kind {
		case 0, 4: // function: type index; tag: attribute is a byte, then type index
			if kind == 4 {
				p++
			} else {
				im.funcs++
			}
			_, n = Uleb32(sec[min(p, len(sec)):])
		case 1: // table: reference type, limits
			n = skipLimits(sec[min(p+1, len(sec)):])
			if n > 0 {
				n++
			}
		case 2: // memory: limits, with the shared and 64-bit flags
			im.memories++
			n = skipMemLimits(sec[p:])
		case 3: // global: value type, mutability
			im.globals++
			n = 2
		}
		if n == 0 || p+n > len(sec) {
			return im, bad
		}
		p += n
	}
	return im, nil
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

// checkExportNames refuses an export section that cannot be read or
// exports a name wasigate reserves.
func checkExportNames(sec []byte) error {
	bad := fmt.Errorf("%w: export section", ErrNoInstrument)
	count, p := Uleb32(sec)
	if p == 0 {
		return bad
	}
	for range count {
		l, n := Uleb32(sec[p:])
		if n == 0 || uint64(p)+uint64(n)+uint64(l) > uint64(len(sec)) {
			return bad
		}
		if name := string(sec[p+n : p+n+int(l)]); strings.HasPrefix(name, reservedPrefix) {
			return fmt.Errorf("%w: exports %q", ErrReservedName, name)
		}
		p += n + int(l)
		if p >= len(sec) {
			return bad
		}
		_, n = Uleb32(sec[p+1:])
		if n == 0 {
			return bad
		}
		p += 1 + n
	}
	return nil
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
