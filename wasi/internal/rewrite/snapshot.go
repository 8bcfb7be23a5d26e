package rewrite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// The module rewriting half of snapshots (wasi/snapshot.go takes them;
// cmd/wasigate/DECISIONS.md#reactors-start-from-a-snapshot-of-their-init):
// read the sections a snapshot changes, export every global for the scratch
// instance, and write the snapshot module, Wizer-style: globals start at
// their captured values, no start section, no _initialize export, the
// memory's minimum is the snapshot's size. Unlike Wizer, the captured
// memory is not written into data segments: the snapshot's memory allocator
// maps it (see wasi/internal/snap/image_linux.go), so every active segment
// is emptied instead.

// ErrNoSnapshot wraps every reason a module is run without a snapshot.
var ErrNoSnapshot = errors.New("no snapshot")

// GlobalPrefix names the exports Instrument adds to read every global; a module
// that already uses it is refused.
const GlobalPrefix = "__wasigate_snapshot_global_"

// snapSection is one section of a module: its id and its content bytes.
type snapSection struct {
	id         byte
	start, end int // content, without the id and size
}

// Snapshot is what the snapshot rewrite needs to know of a module.
type Snapshot struct {
	wasm     []byte
	sections []snapSection
	globals  []byte // value type of each defined global
	mutable  []byte
	memFlags byte
	memMax   uint32
}

// NewSnapshot reads wasm, which CheckBounds accepts, and refuses what a
// snapshot cannot carry over: imported memories, tables and globals (their
// state belongs to the host, not to the snapshot), more than one memory,
// shared or 64-bit memory, globals of reference or vector type.
func NewSnapshot(wasm []byte) (*Snapshot, error) { return readSnapshot(wasm, false) }

// readSnapshot is NewSnapshot; ours accepts the GlobalPrefix exports, in a
// snapshot module Instrument made (Shared).
func readSnapshot(wasm []byte, ours bool) (*Snapshot, error) {
	if err := CheckBounds(wasm); err != nil {
		return nil, err
	}
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, fmt.Errorf("%w: not a binary module", ErrNoSnapshot)
	}
	sm := &Snapshot{wasm: wasm}
	r := &wreader{b: wasm, p: 8, end: len(wasm)}
	memories := 0
	for r.p < len(wasm) && r.err == nil {
		id := r.byte()
		size := r.count()
		s := snapSection{id: id, start: r.p, end: r.p + size}
		sm.sections = append(sm.sections, s)
		sec := &wreader{b: wasm, p: s.start, end: s.end}
		var err error
		switch id {
		case 2:
			err = snapImports(sec)
		case 5:
			sec.vec(func() {
				memories++
				sm.memFlags = sec.byte()
				sec.u32()
				if sm.memFlags&1 != 0 {
					sm.memMax = sec.u32()
				}
			})
			if sec.err == nil && (memories != 1 || sm.memFlags > 1) {
				err = fmt.Errorf("%w: %d memories, flags %#x (one unshared 32-bit memory needed)", ErrNoSnapshot, memories, sm.memFlags)
			}
		case 6:
			sec.vec(func() {
				t := sec.byte()
				sm.globals = append(sm.globals, t)
				sm.mutable = append(sm.mutable, sec.byte())
				sec.expr()
				if sec.err == nil && (t < 0x7c || t > 0x7f) {
					err = fmt.Errorf("%w: a global of type %#x", ErrNoSnapshot, t)
				}
			})
		case 7:
			sec.vec(func() {
				n := sec.count()
				if sec.err == nil && !ours && bytes.HasPrefix(wasm[sec.p:sec.p+n], []byte(GlobalPrefix)) {
					err = fmt.Errorf("%w: the module exports %s names", ErrNoSnapshot, GlobalPrefix)
				}
				sec.skip(n)
				sec.byte()
				sec.u32()
			})
		}
		if err == nil && sec.err != nil {
			err = fmt.Errorf("%w: section %d: %w", ErrNoSnapshot, id, sec.err)
		}
		if err != nil {
			return nil, err
		}
		r.p = s.end
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoSnapshot, r.err)
	}
	if memories == 0 {
		return nil, fmt.Errorf("%w: the module defines no memory", ErrNoSnapshot)
	}
	return sm, nil
}

// snapImports refuses every import that is not a function.
func snapImports(r *wreader) error {
	var bad error
	r.vec(func() {
		mod := r.p
		r.name()
		field := r.p
		r.name()
		k := r.importDesc()
		if r.err == nil && k != 0 && bad == nil {
			bad = fmt.Errorf("%w: imports %s (kind %d): its state is not the module's", ErrNoSnapshot, importName(r.b, mod, field), k)
		}
	})
	return bad
}

func importName(b []byte, mod, field int) string {
	name := func(p int) string {
		n, k := Uleb32(b[p:])
		return string(b[p+k : p+k+int(n)])
	}
	return strconv.Quote(name(mod) + "." + name(field))
}

// build writes the module with sections replaced: a section whose id is
// in repl gets that content (nil drops it); a replaced id the module lacks
// is inserted at its place.
func (sm *Snapshot) build(repl map[byte][]byte) []byte {
	out := make([]byte, 0, len(sm.wasm)+64)
	out = append(out, sm.wasm[:8]...)
	emit := func(id byte, content []byte) {
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(content)))
		out = append(out, content...)
	}
	done := map[byte]bool{}
	insertBefore := func(rank int) {
		for id, c := range repl {
			if !done[id] && c != nil && sectionRank(id) < rank {
				emit(id, c)
				done[id] = true
			}
		}
	}
	for _, s := range sm.sections {
		if s.id != 0 && s.id <= 13 {
			insertBefore(sectionRank(s.id))
		}
		if c, ok := repl[s.id]; ok && s.id != 0 {
			if c != nil && !done[s.id] {
				emit(s.id, c)
			}
			done[s.id] = true
			continue
		}
		emit(s.id, sm.wasm[s.start:s.end])
	}
	insertBefore(math.MaxInt)
	return out
}

// Globals is the number of globals the module defines: Instrument
// exports each as GlobalPrefix+index, Rewrite takes a value for each.
func (sm *Snapshot) Globals() int { return len(sm.globals) }

func (sm *Snapshot) section(id byte) (snapSection, bool) {
	for _, s := range sm.sections {
		if s.id == id {
			return s, true
		}
	}
	return snapSection{}, false
}

// exportsWith re-encodes the export section keeping the exports keep
// accepts and adding extra after them.
func (sm *Snapshot) exportsWith(keep func(name string) bool, extra func(out []byte) ([]byte, int)) []byte {
	var body []byte
	n := 0
	if s, ok := sm.section(7); ok {
		r := &wreader{b: sm.wasm, p: s.start, end: s.end}
		r.vec(func() {
			from := r.p
			l := r.count()
			name := string(sm.wasm[r.p : r.p+l])
			r.skip(l)
			r.byte()
			r.u32()
			if keep(name) {
				body = append(body, sm.wasm[from:r.p]...)
				n++
			}
		})
	}
	if extra != nil {
		var k int
		body, k = extra(body)
		n += k
	}
	return append(binary.AppendUvarint(nil, uint64(n)), body...)
}

// Instrument returns the module with every defined global also exported
// as GlobalPrefix+index, so that the scratch instance's globals can be
// read (wazero reads only exported ones).
func (sm *Snapshot) Instrument() []byte {
	exports := sm.exportsWith(func(string) bool { return true }, func(out []byte) ([]byte, int) {
		for i := range sm.globals {
			name := GlobalPrefix + strconv.Itoa(i)
			out = binary.AppendUvarint(out, uint64(len(name)))
			out = append(out, name...)
			out = append(out, 3) // global
			out = binary.AppendUvarint(out, uint64(i))
		}
		return out, len(sm.globals)
	})
	return sm.build(map[byte][]byte{7: exports})
}

// Rewrite returns the snapshot module: globals start at values (raw bits,
// one per defined global), the memory at pages, the start section and the
// _initialize export are gone, and active data segments are empty (the
// memory image holds what they wrote, and more).
func (sm *Snapshot) Rewrite(values []uint64, pages uint32) ([]byte, error) {
	if len(values) != len(sm.globals) {
		return nil, fmt.Errorf("%w: %d global values for %d globals", ErrNoSnapshot, len(values), len(sm.globals))
	}
	if sm.memFlags&1 != 0 && pages > sm.memMax {
		return nil, fmt.Errorf("%w: %d pages above the maximum %d", ErrNoSnapshot, pages, sm.memMax)
	}
	mem := []byte{1, sm.memFlags}
	mem = binary.AppendUvarint(mem, uint64(pages))
	if sm.memFlags&1 != 0 {
		mem = binary.AppendUvarint(mem, uint64(sm.memMax))
	}
	repl := map[byte][]byte{5: mem, 8: nil}
	if len(sm.globals) > 0 {
		g := binary.AppendUvarint(nil, uint64(len(sm.globals)))
		for i, t := range sm.globals {
			g = append(g, t, sm.mutable[i])
			switch t {
			case 0x7f: // i32
				g = append(g, 0x41)
				g = AppendSleb32(g, int32(uint32(values[i])))
			case 0x7e: // i64
				g = append(g, 0x42)
				g = appendSleb64(g, int64(values[i]))
			case 0x7d: // f32
				g = append(g, 0x43)
				g = binary.LittleEndian.AppendUint32(g, uint32(values[i]))
			case 0x7c: // f64
				g = append(g, 0x44)
				g = binary.LittleEndian.AppendUint64(g, values[i])
			}
			g = append(g, 0x0b)
		}
		repl[6] = g
	}
	// The start function ran in the init too (StartExport).
	repl[7] = sm.exportsWith(func(name string) bool { return name != "_initialize" && name != StartExport }, nil)
	if s, ok := sm.section(11); ok {
		d, err := emptyActive(sm.wasm[s.start:s.end])
		if err != nil {
			return nil, err
		}
		repl[11] = d
	}
	return sm.build(repl), nil
}

// emptyActive re-encodes a data section with every active segment's bytes
// dropped, keeping the count (memory.init and data.drop name segments by
// index) and the passive segments.
func emptyActive(sec []byte) ([]byte, error) {
	r := &wreader{b: sec, end: len(sec)}
	out := make([]byte, 0, 64)
	var err error
	n := r.count()
	out = binary.AppendUvarint(out, uint64(n))
	for ; n > 0 && r.err == nil; n-- {
		from := r.p
		switch flag := r.u32(); flag {
		case 0, 2:
			if flag == 2 {
				r.u32()
			}
			r.expr()
			out = append(out, sec[from:r.p]...)
			out = append(out, 0) // no bytes
			r.name()
		case 1:
			r.name()
			out = append(out, sec[from:r.p]...)
		default:
			err = fmt.Errorf("%w: data segment flag %d", ErrNoSnapshot, flag)
		}
		if err != nil {
			return nil, err
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: data section: %w", ErrNoSnapshot, r.err)
	}
	return out, nil
}

// appendSleb64 appends v as signed LEB128.
func appendSleb64(b []byte, x int64) []byte {
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
