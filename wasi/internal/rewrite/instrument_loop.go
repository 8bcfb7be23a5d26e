package rewrite

import (
	"encoding/binary"
	"fmt"
)

// The check of a loop without calls. The check of appendCheck, in the loop,
// cost 1.27-1.5x on spin.wasm's loop, for two reasons seen in the machine
// code wazero's compiler makes of it: the trip through Go is a call, and
// its register allocator keeps every value live across a call in a stack
// slot for the whole loop, so the loop's own variables went through memory
// at every iteration; and the counter itself was a load, an add and a store
// to the same global at every iteration, a chain through memory longer than
// the loop's own work.
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
//	        local.get $n  i32.const w  i32.add  local.tee $n  global.set $count
//	        local.get $n  i32.const checkEvery-1  i32.and  i32.const w  i32.lt_u
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
// parameters the wrappers would have to carry, and a loop whose check
// weighs more than half the budget (a trip resumes at the check, which
// must not cross the next multiple again).

// wrapExtra is the number of labels the wrapping adds around a loop.
const wrapExtra = 3

// appendWrapHead appends the wrapping's start and the module's loop
// opcode with its one-byte block type bt; w is the check's weight.
func (c *checks) appendWrapHead(b []byte, bt byte, n []byte, w int32) []byte {
	b = append(b, 0x02, bt, 0x03, 0x40)     // block bt loop
	b = append(append(b, 0x23), c.count...) // global.get $count
	b = append(append(b, 0x21), n...)       // local.set $n
	b = append(b, 0x02, 0x40, 0x03, bt)     // block loop bt
	b = append(append(b, 0x20), n...)       // local.get $n
	b = AppendSleb32(append(b, 0x41), w)    // i32.const w
	b = append(b, 0x6a)                     // i32.add
	b = append(append(b, 0x22), n...)       // local.tee $n
	b = append(append(b, 0x24), c.count...) // global.set $count
	b = append(append(b, 0x20), n...)       // local.get $n
	b = appendCrossed(b, w)
	return append(b, 0x0d, 0x01) // br_if $trip
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
