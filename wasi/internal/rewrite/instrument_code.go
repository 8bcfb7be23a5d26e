package rewrite

import "fmt"

var errOpcode = fmt.Errorf("unknown or truncated instruction")

// immediates returns the length of the instruction at the start of b,
// opcode included.
func immediates(b []byte) (int, error) {
	op := b[0]
	rest := b[1:]
	var n int
	switch {
	case op <= 0x01 || op == 0x05 || op == 0x0b || op == 0x0f || op == 0x1a || op == 0x1b ||
		(op >= 0x45 && op <= 0xc4) || op == 0xd1:
		return 1, nil // no immediates
	case op >= 0x02 && op <= 0x04: // block, loop, if
		n = blockType(rest)
	case op == 0x0c || op == 0x0d || op == 0x10 || op == 0x12 || op == 0xd2 ||
		(op >= 0x20 && op <= 0x26) || op == 0x3f || op == 0x40:
		n = skipLeb(rest, 5) // label, function, local, global, table or memory index
	case op == 0x0e: // br_table: vec(label) label
		count, c := Uleb32(rest)
		if c == 0 || uint64(count) > uint64(len(rest)) {
			return 0, errOpcode
		}
		n = c
		for range count + 1 {
			m := skipLeb(rest[min(n, len(rest)):], 5)
			if m == 0 {
				return 0, errOpcode
			}
			n += m
		}
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect: type, table
		n = skipLebs(rest, 2, 5)
	case op == 0x1c: // select with types: vec(valtype)
		count, c := Uleb32(rest)
		if c == 0 || uint64(count) > uint64(len(rest)) {
			return 0, errOpcode
		}
		n = c + int(count)
	case op >= 0x28 && op <= 0x3e:
		n = memarg(rest)
	case op == 0x41:
		n = skipLeb(rest, 5)
	case op == 0x42:
		n = skipLeb(rest, 10)
	case op == 0x43:
		n = 4
	case op == 0x44:
		n = 8
	case op == 0xd0: // ref.null reftype
		n = 1
	case op == 0xfc:
		n = prefixFC(rest)
	case op == 0xfd:
		n = prefixFD(rest)
	case op == 0xfe:
		n = prefixFE(rest)
	}
	if n == 0 || n > len(rest) {
		return 0, fmt.Errorf("%w 0x%02x", errOpcode, op)
	}
	return 1 + n, nil
}

// blockType: empty (0x40), a value type (one byte, negative as s33) or a
// type index (a non-negative s33).
func blockType(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	if b[0] == 0x40 || (b[0] >= 0x6f && b[0] <= 0x7f) {
		return 1
	}
	n := skipLeb(b, 5)
	if n == 0 || b[n-1]&0x40 != 0 { // negative: not a type index
		return 0
	}
	return n
}

// memarg: alignment (bit 6 announces a memory index) and offset.
func memarg(b []byte) int {
	align, n := Uleb32(b)
	if n == 0 {
		return 0
	}
	if align&0x40 != 0 {
		m := skipLeb(b[n:], 5)
		if m == 0 {
			return 0
		}
		n += m
	}
	m := skipLeb(b[n:], 10)
	if m == 0 {
		return 0
	}
	return n + m
}

// skipLebs returns the length of count LEB128 numbers, or 0.
func skipLebs(b []byte, count, max int) int {
	p := 0
	for range count {
		n := skipLeb(b[min(p, len(b)):], max)
		if n == 0 {
			return 0
		}
		p += n
	}
	return p
}

// prefixFC: saturating conversions, bulk memory and table instructions.
func prefixFC(b []byte) int {
	sub, n := Uleb32(b)
	if n == 0 {
		return 0
	}
	var m int
	switch {
	case sub <= 7:
		return n
	case sub == 8 || sub == 10 || sub == 12 || sub == 14: // two indexes
		m = skipLebs(b[n:], 2, 5)
	case sub == 9 || sub == 11 || sub == 13 || (sub >= 15 && sub <= 17):
		m = skipLeb(b[n:], 5)
	}
	if m == 0 {
		return 0
	}
	return n + m
}

// prefixFD: SIMD. Loads and stores have a memarg, lane instructions a lane
// byte, v128.const and i8x16.shuffle 16 bytes; the rest nothing.
func prefixFD(b []byte) int {
	sub, n := Uleb32(b)
	if n == 0 {
		return 0
	}
	switch {
	case sub <= 11 || sub == 92 || sub == 93:
		if m := memarg(b[n:]); m > 0 {
			return n + m
		}
		return 0
	case sub == 12 || sub == 13:
		return n + 16
	case sub >= 21 && sub <= 34:
		return n + 1
	case sub >= 84 && sub <= 91:
		if m := memarg(b[n:]); m > 0 {
			return n + m + 1
		}
		return 0
	}
	return n
}

// prefixFE: threads. atomic.fence has one zero byte, the rest a memarg.
func prefixFE(b []byte) int {
	sub, n := Uleb32(b)
	if n == 0 {
		return 0
	}
	if sub == 3 {
		return n + 1
	}
	if sub > 0x4e {
		return 0
	}
	if m := memarg(b[n:]); m > 0 {
		return n + m
	}
	return 0
}
