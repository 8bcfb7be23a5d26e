package rewrite

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// One compiled module for every snapshot of a module. A snapshot module
// (Rewrite) bakes what its init left into its bytes: the globals' values
// and the memory's size. Two snapshots of one interpreter (one per set of
// volumes, one per WSGI application) then differ by a few bytes, and each
// is compiled on its own: tens of MiB of machine code and a decoded copy
// apiece, all of it the same code. Shared takes those bytes out: the
// mutable globals start at zero and the memory empty, so that every
// snapshot of a module has the same shared module, and each instance is
// then given its snapshot's values (its memory grown to the image's size,
// its mutable globals set through their exports) before anything runs.

// Start is what an instance of a shared module is given to be its
// snapshot's instance: the memory's size in pages and the value of each
// mutable global, by index (Values[i] matters only when Mutable[i]).
type Start struct {
	Pages   uint32
	Values  []uint64
	Mutable []bool
}

// Shared returns the shared module of a snapshot module (what Rewrite
// and Instrument made) and what its instances must be given. Active data
// segments become empty passive ones: a memory of no pages has room for
// no active segment, and the image holds what they wrote (memory.init of
// a dropped active segment and of an empty passive one fail alike). A
// module Shared cannot read, such as a global whose initialiser is not a
// constant, is an error: its snapshot module is used as it is.
func Shared(wasm []byte) ([]byte, Start, error) {
	sm, err := readSnapshot(wasm, true)
	if err != nil {
		return nil, Start{}, err
	}
	st := Start{Values: make([]uint64, len(sm.globals)), Mutable: make([]bool, len(sm.globals))}
	repl := map[byte][]byte{}
	if s, ok := sm.section(6); ok {
		g, err := zeroMutable(sm.wasm[s.start:s.end], &st)
		if err != nil {
			return nil, Start{}, err
		}
		repl[6] = g
	}
	s, _ := sm.section(5) // NewSnapshot found one memory
	r := &wreader{b: sm.wasm, p: s.start, end: s.end}
	r.count()
	r.byte()
	st.Pages = r.u32()
	if r.err != nil {
		return nil, Start{}, fmt.Errorf("%w: memory section: %w", ErrNoSnapshot, r.err)
	}
	mem := []byte{1, sm.memFlags, 0}
	if sm.memFlags&1 != 0 {
		mem = binary.AppendUvarint(mem, uint64(sm.memMax))
	}
	repl[5] = mem
	if s, ok := sm.section(11); ok {
		d, err := passiveEmpty(sm.wasm[s.start:s.end])
		if err != nil {
			return nil, Start{}, err
		}
		repl[11] = d
	}
	return sm.build(repl), st, nil
}

// zeroMutable re-encodes a global section with every mutable global
// starting at zero, recording the constant each started at in st.
func zeroMutable(sec []byte, st *Start) ([]byte, error) {
	r := &wreader{b: sec, end: len(sec)}
	n := r.count()
	out := binary.AppendUvarint(make([]byte, 0, len(sec)), uint64(n))
	for i := 0; i < n && r.err == nil; i++ {
		from := r.p
		t, mut := r.byte(), r.byte()
		var v uint64
		switch op := r.byte(); {
		case op == 0x41 && t == 0x7f:
			v = uint64(uint32(int32(r.sleb(32))))
		case op == 0x42 && t == 0x7e:
			v = uint64(r.sleb(64))
		case op == 0x43 && t == 0x7d:
			v = uint64(r.fixed(4))
		case op == 0x44 && t == 0x7c:
			v = r.fixed(8)
		default:
			return nil, fmt.Errorf("%w: global %d does not start at a constant", ErrNoSnapshot, i)
		}
		if r.byte() != 0x0b || r.err != nil || i >= len(st.Values) {
			return nil, fmt.Errorf("%w: global %d: malformed", ErrNoSnapshot, i)
		}
		if mut == 0 {
			out = append(out, sec[from:r.p]...)
			continue
		}
		st.Values[i], st.Mutable[i] = v, true
		out = append(out, t, mut)
		switch t {
		case 0x7f:
			out = append(out, 0x41, 0)
		case 0x7e:
			out = append(out, 0x42, 0)
		case 0x7d:
			out = append(out, 0x43, 0, 0, 0, 0)
		case 0x7c:
			out = append(out, 0x44, 0, 0, 0, 0, 0, 0, 0, 0)
		}
		out = append(out, 0x0b)
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: global section: %w", ErrNoSnapshot, r.err)
	}
	return out, nil
}

var errSlebLong = errors.New("signed integer too long")

// sleb reads a signed LEB128 of at most bits bits.
func (r *wreader) sleb(bits int) int64 {
	var v int64
	shift := 0
	for {
		b := r.byte()
		if r.err != nil {
			return 0
		}
		v |= int64(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			if shift < 64 && b&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
		if shift >= bits+7 {
			r.err = errSlebLong
			return 0
		}
	}
}

// fixed reads n little-endian bytes (4 or 8).
func (r *wreader) fixed(n int) uint64 {
	if r.left() < n {
		r.err = errShort
		return 0
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(r.b[r.p+i])
	}
	r.p += n
	return v
}

// passiveEmpty re-encodes a data section with every active segment made
// an empty passive one (the count and the indexes stay, for memory.init
// and data.drop), keeping the passive segments.
func passiveEmpty(sec []byte) ([]byte, error) {
	r := &wreader{b: sec, end: len(sec)}
	n := r.count()
	out := binary.AppendUvarint(make([]byte, 0, 64), uint64(n))
	for ; n > 0 && r.err == nil; n-- {
		from := r.p
		switch flag := r.u32(); flag {
		case 0, 2:
			if flag == 2 {
				r.u32()
			}
			r.expr()
			r.name()
			out = append(out, 1, 0) // passive, no bytes
		case 1:
			r.name()
			out = append(out, sec[from:r.p]...)
		default:
			return nil, fmt.Errorf("%w: data segment flag %d", ErrNoSnapshot, flag)
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: data section: %w", ErrNoSnapshot, r.err)
	}
	return out, nil
}
