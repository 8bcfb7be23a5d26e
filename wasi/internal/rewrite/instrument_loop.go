package rewrite

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The check of a loop without calls (issue 13). The check of
// appendCheck, in the loop, cost 1.27-1.5x on spin.wasm's loop, for two
// reasons seen in the machine code wazero's compiler makes of it: the
// trip through Go is a call, and its register allocator keeps every value
// live across a call in a stack slot for the whole loop, so the loop's own
// variables went through memory at every iteration; and the counter itself
// was a load, an add and a store to the same global at every iteration,
// a chain through memory longer than the loop's own work.
//
// So a loop whose body (nested loops included) makes no call gets its
// trip outside the loop, and the counter in the scratch local $n, stored
// to the global at each check but never loaded back in the loop:
//
//	block bt            ;; $done
//	  loop              ;; $resume
//	    global.get $count  local.set $n
//	    block           ;; $trip
//	      loop bt       ;; the module's loop, its header:
//	        local.get $n  i32.const 1  i32.add  local.tee $n  global.set $count
//	        local.get $n  i32.const checkEvery-1  i32.and  i32.eqz
//	        br_if $trip
//	        ...         ;; its body, branches past it renumbered (+3)
//	      end
//	      br $done
//	    end
//	    TRIP            ;; as appendTrip
//	    br $resume
//	  end
//	  unreachable       ;; only when bt has a result
//	end
//
// The counts are exactly those of appendCheck: $n equals the global
// everywhere in such a loop, because nothing but a call could change the
// global there and every check stores it, so an exit by any branch loses
// nothing and loops nested in it (which reload $n at their entry) agree
// with it. On spin.wasm this costs 1.01x against no check. A loop with a
// call keeps appendCheck in its header (the call spills anyway), and so
// does a loop whose block type is a type index, which may take
// parameters the wrappers would have to carry.

// wrapExtra is the number of labels the wrapping adds around a loop.
const wrapExtra = 3

// appendWrapHead appends the wrapping's start and the module's loop
// opcode with its one-byte block type bt.
func (c *checks) appendWrapHead(b []byte, bt byte, n []byte) []byte {
	b = append(b, 0x02, bt, 0x03, 0x40)     // block bt loop
	b = append(append(b, 0x23), c.count...) // global.get $count
	b = append(append(b, 0x21), n...)       // local.set $n
	b = append(b, 0x02, 0x40, 0x03, bt)     // block loop bt
	b = append(append(b, 0x20), n...)       // local.get $n
	b = append(b, 0x41, 0x01, 0x6a)         // i32.const 1 i32.add
	b = append(append(b, 0x22), n...)       // local.tee $n
	b = append(append(b, 0x24), c.count...) // global.set $count
	b = append(append(b, 0x20), n...)       // local.get $n
	b = AppendSleb32(append(b, 0x41), checkEvery-1)
	return append(b, 0x71, 0x45, 0x0d, 0x01) // i32.and i32.eqz br_if $trip
}

// appendWrapTail appends what follows the module loop's end opcode.
func (c *checks) appendWrapTail(b []byte, result bool) []byte {
	b = append(b, 0x0c, 0x02, 0x0b) // br $done end($trip)
	b = c.appendTrip(b)
	b = append(b, 0x0c, 0x00, 0x0b) // br $resume end($resume)
	if result {
		b = append(b, 0x00) // unreachable
	}
	return append(b, 0x0b) // end($done)
}

// scan is the first pass over a function's instructions. It must know
// the immediates of every opcode to find the opcodes: those of
// WebAssembly 2.0 (sign extension, saturating conversions, bulk memory,
// reference types, multi-value, SIMD), plus threads and tail calls.
// Anything else is an error. Its slices are bounded by len(code).
type scan struct {
	marks  []int  // offsets of block, loop, if, end, br, br_if and br_table
	free   []bool // per loop opcode, in order: its body, nested blocks included, has no call
	calls  bool   // the function has a call
	open   []int  // per open block, the function's own first: its loop's index in free, or -1
	loops  []int  // the open loops' indexes in free, innermost last
	labels labels // for the second pass (instrumentExpr)
}

func (s *scan) run(code []byte) error {
	s.marks, s.free, s.calls = s.marks[:0], s.free[:0], false
	s.open, s.loops = append(s.open[:0], -1), s.loops[:0]
	for p := 0; p < len(code); {
		op := code[p]
		size, err := immediates(code[p:])
		if err != nil {
			return err
		}
		switch op {
		case 0x02, 0x04: // block, if
			s.open = append(s.open, -1)
		case 0x03:
			s.open = append(s.open, len(s.free))
			s.loops = append(s.loops, len(s.free))
			s.free = append(s.free, true)
		case 0x0b:
			if len(s.open) == 0 {
				return errUnbalanced
			}
			if s.open[len(s.open)-1] >= 0 {
				inner := s.loops[len(s.loops)-1]
				s.loops = s.loops[:len(s.loops)-1]
				if !s.free[inner] && len(s.loops) > 0 {
					s.free[s.loops[len(s.loops)-1]] = false
				}
			}
			s.open = s.open[:len(s.open)-1]
		case 0x0c, 0x0d, 0x0e:
		case 0x10, 0x11, 0x12, 0x13:
			s.calls = true
			if len(s.loops) > 0 {
				s.free[s.loops[len(s.loops)-1]] = false
			}
			fallthrough
		default:
			p += size
			continue
		}
		s.marks = append(s.marks, p)
		p += size
	}
	return nil
}

var errUnbalanced = errors.New("unbalanced end")

// labels tracks the open blocks of a function body and the labels the
// wrapping added outside each, to renumber branches.
type labels struct {
	wrapped []bool // per open block: a wrapped loop
	result  []bool // per open block: a wrapped loop with a result
	added   []int  // per open block: labels added outside it and every block around it
}

func (l *labels) push(wrapped, result bool) {
	prev := 0
	if len(l.added) > 0 {
		prev = l.added[len(l.added)-1]
	}
	if wrapped {
		prev += wrapExtra
	}
	l.wrapped, l.result, l.added = append(l.wrapped, wrapped), append(l.result, result), append(l.added, prev)
}

// pop closes the innermost block and reports whether it was a wrapped
// loop and had a result.
func (l *labels) pop() (wrapped, result bool, err error) {
	top := len(l.added) - 1
	if top < 0 {
		return false, false, errUnbalanced
	}
	wrapped, result = l.wrapped[top], l.result[top]
	l.wrapped, l.result, l.added = l.wrapped[:top], l.result[:top], l.added[:top]
	return wrapped, result, nil
}

// label returns the new depth of branch label d.
func (l *labels) label(d uint32) (uint32, error) {
	top := len(l.added) - 1
	if uint64(d) > uint64(top) || top < 0 {
		return 0, fmt.Errorf("branch label %d beyond the function", d)
	}
	nd := uint64(d) + uint64(l.added[top]-l.added[top-int(d)])
	if nd > 1<<32-1 {
		return 0, fmt.Errorf("branch label %d too deep", d)
	}
	return uint32(nd), nil
}

// appendBranch appends the branch instruction ins (br, br_if or
// br_table, whole) with its labels renumbered.
func (l *labels) appendBranch(out, ins []byte) ([]byte, error) {
	out = append(out, ins[0])
	p, count := 1, uint32(1)
	if ins[0] == 0x0e {
		c, n := Uleb32(ins[1:])
		out = append(out, ins[1:1+n]...)
		p, count = 1+n, c+1
	}
	for range count {
		d, n := Uleb32(ins[p:])
		if n == 0 {
			return nil, errOpcode
		}
		nd, err := l.label(d)
		if err != nil {
			return nil, err
		}
		if nd == d {
			out = append(out, ins[p:p+n]...) // as it was, even if not minimal
		} else {
			out = binary.AppendUvarint(out, uint64(nd))
		}
		p += n
	}
	return out, nil
}
