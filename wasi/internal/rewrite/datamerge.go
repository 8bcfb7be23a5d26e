package rewrite

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"slices"
)

// ErrNoRewrite means the module's data is left as it is: a shape that the
// rewrite does not handle (and need not: only Go's linker makes thousands
// of segments).
var ErrNoRewrite = errors.New("data section not rewritten")

// Coalesce returns wasm with its active data segments joined where
// they are at most gap zero bytes apart, and how many segments there were
// before and after. The module's meaning is unchanged: a joined segment
// writes the same bytes, plus zeros over memory that is zero at
// instantiation and that no other segment writes (segments must not
// overlap, or nothing is changed).
//
// Modules with a data count section (bulk memory: memory.init and
// data.drop name segments by index), passive segments, a second memory or
// offsets other than i32.const are returned unchanged with ErrNoRewrite.
func Coalesce(wasm []byte, gap int) (out []byte, before, after int, err error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) || binary.LittleEndian.Uint32(wasm[4:8]) != 1 {
		return wasm, 0, 0, ErrNoRewrite
	}
	// Find the data section; refuse a data count section.
	var dataStart, dataEnd, contentStart int
	pos := 8
	for pos < len(wasm) {
		id := wasm[pos]
		size, n := Uleb32(wasm[pos+1:])
		if n == 0 || pos+1+n+int(size) > len(wasm) {
			return wasm, 0, 0, ErrNoRewrite
		}
		start := pos + 1 + n
		switch id {
		case 12: // data count
			return wasm, 0, 0, ErrNoRewrite
		case 2: // imports: an imported memory need not start zeroed
			if importsMemory(wasm[start : start+int(size)]) {
				return wasm, 0, 0, ErrNoRewrite
			}
		case 11:
			dataStart, contentStart, dataEnd = pos, start, start+int(size)
		}
		pos = start + int(size)
	}
	if dataStart == 0 {
		return wasm, 0, 0, ErrNoRewrite
	}

	type segment struct {
		off  uint32
		init []byte
	}
	sec := wasm[contentStart:dataEnd]
	count, n := Uleb32(sec)
	if n == 0 {
		return wasm, 0, 0, ErrNoRewrite
	}
	p := n
	// A segment takes at least 5 bytes (flag, i32.const, offset, end,
	// size): a count beyond that is a lie, and allocating from it before
	// reading killed the process.
	if int(count) > (len(sec)-p)/5 {
		return wasm, 0, 0, ErrNoRewrite
	}
	segs := make([]segment, 0, count)
	for range count {
		flag, n := Uleb32(sec[p:])
		if n == 0 || flag != 0 {
			return wasm, 0, 0, ErrNoRewrite
		}
		p += n
		// The offset: i32.const N end.
		if p >= len(sec) || sec[p] != 0x41 {
			return wasm, 0, 0, ErrNoRewrite
		}
		v, n := sleb32(sec[p+1:])
		if n == 0 || p+1+n >= len(sec) || sec[p+1+n] != 0x0b {
			return wasm, 0, 0, ErrNoRewrite
		}
		p += 1 + n + 1
		size, n := Uleb32(sec[p:])
		if n == 0 || p+n+int(size) > len(sec) {
			return wasm, 0, 0, ErrNoRewrite
		}
		p += n
		segs = append(segs, segment{off: uint32(v), init: sec[p : p+int(size)]})
		p += int(size)
	}
	if p != len(sec) || gap < 0 {
		return wasm, len(segs), len(segs), ErrNoRewrite
	}
	// Segments that do not overlap write each byte at most once, so the
	// order they are applied in does not matter and they can be sorted (Go
	// puts its read-only data after its other data). The gaps between
	// sorted neighbours are then written by no segment.
	slices.SortStableFunc(segs, func(a, b segment) int { return cmp.Compare(a.off, b.off) })
	var end uint64
	for _, s := range segs {
		if uint64(s.off) < end {
			return wasm, 0, 0, ErrNoRewrite // overlapping
		}
		end = uint64(s.off) + uint64(len(s.init))
	}

	// Join runs of segments, then encode the new section in one buffer.
	type run struct{ i, j, size int }
	var runs []run
	total := 0
	for i := 0; i < len(segs); {
		j, stop := i+1, uint64(segs[i].off)+uint64(len(segs[i].init))
		for j < len(segs) && uint64(segs[j].off)-stop <= uint64(gap) {
			stop = uint64(segs[j].off) + uint64(len(segs[j].init))
			j++
		}
		size := int(stop - uint64(segs[i].off))
		runs = append(runs, run{i, j, size})
		total += size + 16
		i = j
	}
	// Filling gaps adds up to gap zero bytes per 5-byte segment; keep the
	// rewritten module within a small multiple of the input, so that a
	// small file cannot ask for a large allocation.
	if total > 2*len(wasm)+4*max(gap, 4096) {
		return wasm, len(segs), len(segs), ErrNoRewrite
	}
	content := make([]byte, 0, total+5)
	content = binary.AppendUvarint(content, uint64(len(runs)))
	for _, r := range runs {
		base := segs[r.i].off
		content = append(content, 0, 0x41)           // active, memory 0; i32.const
		content = AppendSleb32(content, int32(base)) // offset
		content = append(content, 0x0b)              // end
		content = binary.AppendUvarint(content, uint64(r.size))
		start := len(content)
		content = append(content, make([]byte, r.size)...)
		for _, s := range segs[r.i:r.j] {
			copy(content[start+int(s.off-base):], s.init)
		}
	}
	joined := len(runs)
	out = make([]byte, 0, len(wasm)-(dataEnd-dataStart)+len(content)+6)
	out = append(out, wasm[:dataStart]...)
	out = append(out, 11)
	out = binary.AppendUvarint(out, uint64(len(content)))
	out = append(out, content...)
	out = append(out, wasm[dataEnd:]...)
	return out, len(segs), joined, nil
}

// importsMemory reports whether an import section imports a memory, or
// cannot be read (which the caller treats the same way).
func importsMemory(sec []byte) bool {
	count, p := Uleb32(sec)
	if p == 0 {
		return true
	}
	for range count {
		for range 2 { // module and field names
			l, n := Uleb32(sec[p:])
			if n == 0 || p+n+int(l) > len(sec) {
				return true
			}
			p += n + int(l)
		}
		if p >= len(sec) {
			return true
		}
		kind := sec[p]
		p++
		switch kind {
		case 0: // function: type index
			_, n := Uleb32(sec[p:])
			if n == 0 {
				return true
			}
			p += n
		case 1: // table: reference type, limits
			n := skipLimits(sec[min(p+1, len(sec)):])
			if n == 0 {
				return true
			}
			p += 1 + n
		case 3: // global: value type, mutability
			if p+2 > len(sec) {
				return true
			}
			p += 2
		default: // 2 is a memory; anything else is unknown
			return true
		}
	}
	return false
}

// skipLimits returns the length of a limits encoding, or 0.
func skipLimits(b []byte) int {
	if len(b) == 0 || b[0] > 1 {
		return 0
	}
	_, n := Uleb32(b[1:])
	if n == 0 {
		return 0
	}
	if b[0] == 1 {
		_, m := Uleb32(b[1+n:])
		if m == 0 {
			return 0
		}
		n += m
	}
	return 1 + n
}

// Uleb32 decodes an unsigned LEB128 of at most 5 bytes; n is 0 when it is
// malformed.
func Uleb32(b []byte) (v uint32, n int) {
	var shift uint
	for i := 0; i < len(b) && i < 5; i++ {
		v |= uint32(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
		shift += 7
	}
	return 0, 0
}

// sleb32 decodes a signed LEB128 of at most 5 bytes; n is 0 when it is
// malformed.
func sleb32(b []byte) (v int32, n int) {
	var result int64
	var shift uint
	for i := 0; i < len(b) && i < 5; i++ {
		result |= int64(b[i]&0x7f) << shift
		shift += 7
		if b[i]&0x80 == 0 {
			if shift < 64 && b[i]&0x40 != 0 {
				result |= -1 << shift
			}
			return int32(result), i + 1
		}
	}
	return 0, 0
}

// AppendSleb32 appends v as signed LEB128.
func AppendSleb32(b []byte, v int32) []byte {
	x := int64(v)
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
