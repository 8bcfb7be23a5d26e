package rewrite

import (
	"encoding/binary"
	"fmt"
)

// checks builds the instrumentation's instructions (instrument.go).
type checks struct {
	count, flag []byte // the indexes of the counter and interrupt globals
}

// appendTrip appends the trip through Go and the test of the flag.
func (c *checks) appendTrip(b []byte) []byte {
	b = append(b, 0x41, 0x00, 0x40, 0x00, 0x1a) // i32.const 0 memory.grow 0 drop
	b = append(append(b, 0x23), c.flag...)      // global.get $interrupt
	return append(b, 0x04, 0x40, 0x00, 0x0b)    // if unreachable end
}

// appendCheck appends the check at a function's entry or a loop header;
// n is the index of the function's scratch local, w the check's weight
// (scan.weigh), at least 1.
func (c *checks) appendCheck(b, n []byte, w int32) []byte {
	b = append(append(b, 0x23), c.count...) // global.get $count
	b = AppendSleb32(append(b, 0x41), w)    // i32.const w
	b = append(b, 0x6a)                     // i32.add
	b = append(append(b, 0x22), n...)       // local.tee $n
	b = append(append(b, 0x24), c.count...) // global.set $count
	b = append(append(b, 0x20), n...)       // local.get $n
	b = append(appendCrossed(b, w), 0x04, 0x40)
	return append(c.appendTrip(b), 0x0b) // if TRIP end
}

// appendCrossed appends the test of whether adding w (at most
// checkEvery) to the counter, whose new value is on the stack, passed a
// multiple of checkEvery: its low bits are then below w. With w = 1 that is
// the low bits being 0, one instruction shorter.
func appendCrossed(b []byte, w int32) []byte {
	b = AppendSleb32(append(b, 0x41), checkEvery-1) // i32.const mask
	b = append(b, 0x71)                             // i32.and
	if w == 1 {
		return append(b, 0x45) // i32.eqz
	}
	b = AppendSleb32(append(b, 0x41), w) // i32.const w
	return append(b, 0x49)               // i32.lt_u
}

// appendBulk appends the check before a bulk memory or table instruction,
// whose length is on the stack and stays there: the counter grows by the
// length >> shift, and the guest trips when that passes a multiple of
// checkEvery. n and l are the function's two scratch locals; $n ends equal
// to the counter, as the loops of instrument_loop.go need.
func (c *checks) appendBulk(b, n, l []byte, shift uint8) []byte {
	b = append(append(b, 0x22), l...)                                 // local.tee $l
	b = append(append(b, 0x20), l...)                                 // local.get $l
	b = append(b, 0x41, shift, 0x76)                                  // i32.const shift i32.shr_u
	b = append(append(b, 0x21), l...)                                 // local.set $l
	b = append(append(b, 0x23), c.count...)                           // global.get $count
	b = append(AppendSleb32(append(b, 0x41), checkEvery-1), 0x71)     // i32.const mask i32.and
	b = append(append(b, 0x20), l...)                                 // local.get $l
	b = append(AppendSleb32(append(b, 0x6a, 0x41), checkEvery), 0x4f) // i32.add i32.const checkEvery i32.ge_u
	b = append(append(b, 0x23), c.count...)                           // global.get $count
	b = append(append(append(b, 0x20), l...), 0x6a)                   // local.get $l i32.add
	b = append(append(b, 0x22), n...)                                 // local.tee $n
	b = append(append(b, 0x24), c.count...)                           // global.set $count
	b = append(b, 0x04, 0x40)                                         // if
	return append(c.appendTrip(b), 0x0b)                              // TRIP end
}

// weight turns a path length into a check's weight: at least 1, at most
// checkEvery (which trips at every check).
func weight(cost int64) int32 {
	return int32(max(1, min(cost, int64(checkEvery))))
}

// paramCounts returns the number of parameters of each function the
// module defines, in order: the function section's type indexes looked up
// in the type section. Its length is bounded by len(funcs).
func paramCounts(types, funcs []byte) ([]uint32, error) {
	bad := func(what string) error { return fmt.Errorf("%w: %s section", ErrNoInstrument, what) }
	var params []uint32 // by type index
	if types != nil {
		count, p := Uleb32(types)
		if p == 0 || uint64(count) > uint64(len(types)) {
			return nil, bad("type")
		}
		params = make([]uint32, 0, count)
		for range count {
			// Only plain function types with one-byte value types: the
			// ones every guest the rewriter knows uses.
			if p >= len(types) || types[p] != 0x60 {
				return nil, bad("type")
			}
			p++
			for i := range 2 { // parameters, results
				c, n := Uleb32(types[p:])
				if n == 0 || uint64(p)+uint64(n)+uint64(c) > uint64(len(types)) {
					return nil, bad("type")
				}
				for _, vt := range types[p+n : p+n+int(c)] {
					if !plainValType(vt) {
						return nil, bad("type")
					}
				}
				if i == 0 {
					params = append(params, c)
				}
				p += n + int(c)
			}
		}
		if p != len(types) {
			return nil, bad("type")
		}
	}
	if funcs == nil {
		return nil, nil
	}
	count, p := Uleb32(funcs)
	if p == 0 || uint64(count) > uint64(len(funcs)) {
		return nil, bad("function")
	}
	out := make([]uint32, 0, count)
	for range count {
		t, n := Uleb32(funcs[p:])
		if n == 0 || uint64(t) >= uint64(len(params)) {
			return nil, bad("function")
		}
		out = append(out, params[t])
		p += n
	}
	if p != len(funcs) {
		return nil, bad("function")
	}
	return out, nil
}

// plainValType: i32, i64, f32, f64, v128, funcref, externref.
func plainValType(vt byte) bool {
	return (vt >= 0x7b && vt <= 0x7f) || vt == 0x70 || vt == 0x6f
}

// instrumentCode rewrites a code section: params holds each function's
// parameter count (paramCounts). A function gets the scratch local $n when
// it has a check and $l when it has a bulk instruction; the entry check
// when it contains a call or its longest path is over maxUnchecked; the
// loop check after the block type of each loop opcode, its header; and
// the bulk check before each bulk instruction (instrument.go).
func instrumentCode(sec []byte, params []uint32, c *checks, lim limits) ([]byte, error) {
	bad := func(what string, fn uint32) error {
		return fmt.Errorf("%w: code section: %s in function body %d", ErrNoInstrument, what, fn)
	}
	count, p := Uleb32(sec)
	if p == 0 {
		return nil, bad("count", 0)
	}
	if uint64(count) != uint64(len(params)) {
		return nil, bad("count differs from the function section's", 0)
	}
	out := make([]byte, 0, len(sec)+len(sec)/2+16)
	out = binary.AppendUvarint(out, uint64(count))
	var body, code, n, l []byte // reused: one function's new body, its instructions, the scratch locals' indexes
	var s scan
	for i := range count {
		size, m := Uleb32(sec[p:])
		if m == 0 || uint64(p)+uint64(m)+uint64(size) > uint64(len(sec)) {
			return nil, bad("size", i)
		}
		fn := sec[p+m : p+m+int(size)]
		p += m + int(size)
		locals, decls, total, ok := readLocals(fn)
		if !ok {
			return nil, bad("locals", i)
		}
		if total += uint64(params[i]); total >= maxLocals {
			return nil, bad("too many locals", i)
		}
		n = binary.AppendUvarint(n[:0], total)
		l = binary.AppendUvarint(l[:0], total+1)
		lim.locals = total
		if err := s.run(fn[locals:], &lim); err != nil {
			return nil, bad(err.Error(), i)
		}
		entry := s.calls || s.entryWeight() > maxUnchecked
		if !entry && len(s.free) == 0 && !s.bulk {
			out = binary.AppendUvarint(out, uint64(len(fn)))
			out = append(out, fn...)
			continue
		}
		var err error
		if code, err = instrumentExpr(code[:0], fn[locals:], c, n, l, &s); err != nil {
			return nil, bad(err.Error(), i)
		}
		// The local declarations with the scratch i32s appended: a new
		// count, the old entries, then (1 or 2, i32).
		_, cn := Uleb32(fn)
		body = binary.AppendUvarint(body[:0], uint64(decls)+1)
		body = append(body, fn[cn:locals]...)
		if s.bulk {
			body = append(body, 0x02, 0x7f)
		} else {
			body = append(body, 0x01, 0x7f)
		}
		if entry {
			body = c.appendCheck(body, n, weight(s.entryWeight()))
		}
		body = append(body, code...)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	if p != len(sec) {
		return nil, bad("trailing bytes", count)
	}
	return out, nil
}

// readLocals returns the length of a function body's local declarations,
// how many entries they have and how many locals they declare.
func readLocals(fn []byte) (length int, decls uint32, total uint64, ok bool) {
	count, p := Uleb32(fn)
	if p == 0 {
		return 0, 0, 0, false
	}
	for range count {
		c, n := Uleb32(fn[p:])
		if n == 0 || p+n >= len(fn) || !plainValType(fn[p+n]) {
			return 0, 0, 0, false
		}
		total += uint64(c)
		p += n + 1
	}
	return p, count, total, true
}

// instrumentExpr copies the instructions of code to out, with the loop
// checks (appendCheck after the block type of each loop with a call,
// appendWrapHead and appendWrapTail around the others: instrument_loop.go)
// and the bulk checks. s holds the first pass over code (scan.run).
func instrumentExpr(out, code []byte, c *checks, n, lv []byte, s *scan) (_ []byte, err error) {
	l := &s.labels
	l.wrapped, l.result, l.added = l.wrapped[:0], l.result[:0], l.added[:0]
	l.push(false, false) // the function's own block
	loop, last := 0, 0
	for k, nd := range s.nodes {
		p := nd.off
		out = append(out, code[last:p]...)
		size, _ := immediates(code[p:]) // known valid: s.run read it
		ins := code[p : p+size]
		last = p + size
		switch nd.kind {
		case kBlock, kIf:
			out = append(out, ins...)
			l.push(false, false)
		case kLoop:
			w := weight(s.loopWeight(k))
			// Wrapped only when w is at most half the budget: after a trip
			// the wrapping resumes at the header's check, which adds w
			// again, and the low bits (below w) then cross the next multiple
			// again unless 2w <= checkEvery. At w = checkEvery the guest would
			// trip at every resume and never run the body; near it, once
			// per unit left. A body that long gains nothing from the
			// wrapping anyway.
			if s.free[loop] && 2*int64(w) <= int64(checkEvery) && size == 2 && (ins[1] == 0x40 || ins[1] >= 0x6f) { // empty or one value type, not a type index
				out = c.appendWrapHead(out, ins[1], n, w)
				l.push(true, ins[1] != 0x40)
			} else {
				out = c.appendCheck(append(out, ins...), n, w)
				l.push(false, false)
			}
			loop++
		case kEnd:
			out = append(out, ins...)
			wrapped, result, err := l.pop()
			if err != nil {
				return nil, err
			}
			if wrapped {
				out = c.appendWrapTail(out, result)
			}
		case kBr, kBrIf, kBrTable:
			if out, err = l.appendBranch(out, ins); err != nil {
				return nil, err
			}
		case kBulk:
			out = append(c.appendBulk(out, n, lv, nd.shift), ins...)
		default: // else, calls, return, unreachable
			out = append(out, ins...)
		}
	}
	return append(out, code[last:]...), nil
}
