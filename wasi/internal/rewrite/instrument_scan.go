package rewrite

import (
	"errors"
	"fmt"
)

// The first pass over a function's instructions, and the weight of each
// check (instrument.go): the most a guest can run after passing it before
// it reaches another check.
//
// A path between two checks of one activation only moves forward through
// the code: a backward jump goes to a loop header, which is a check. So the
// weight of a check is the longest forward path from it to a loop header,
// the function's end, a return or an unreachable: a plain instruction
// costs 1, a call costs 1+maxUnchecked (a function without a check runs at
// most that many; those with a check charge themselves), a bulk memory or
// table instruction 1 plus what its own check charges for its length.

// maxUnchecked is the longest path a function may have and still go
// without an entry check when it has neither a call nor a loop. Each call
// is charged this much for the callee it may reach.
const maxUnchecked = 64

// maxWeight caps path lengths while they are added up; any weight of at
// least checkEvery trips at every check anyway.
const maxWeight = 1 << 40

type nodeKind uint8

const (
	kBlock nodeKind = iota
	kLoop
	kIf
	kElse
	kEnd
	kBr
	kBrIf
	kBrTable
	kTerm     // return, unreachable: the path ends
	kTailCall // return_call, return_call_indirect: the callee, then the path ends
	kCall
	kBulk // counts in proportion to its length operand
)

// node is an instruction that changes control flow or that the second
// pass rewrites; the plain instructions between two nodes only add to
// plain.
type node struct {
	off   int      // offset in the function's code
	kind  nodeKind //
	shift uint8    // kBulk: the length is charged len>>shift
	plain int64    // cost of the plain instructions just before it
	match int32    // block, loop, if: its end; if: its else in elseAt; else: its end
	tgt   int32    // branches: first target in scan.targets
	ntgt  int32    // branches: number of targets
}

// limits are what the original module declares: the rewriter refuses any
// index past them, so that no rewritten module reaches what it added
// even if the module was not validated first.
type limits struct {
	globals, funcs, locals uint64
	memory                 bool
}

// scan is the first pass over a function. It must know the immediates of
// every opcode to find the opcodes: those of WebAssembly 2.0 (sign
// extension, saturating conversions, bulk memory, reference types,
// multi-value, SIMD), plus threads and tail calls. Anything else is an
// error. Its slices are bounded by len(code).
type scan struct {
	nodes   []node
	elseAt  []int32 // per node: an if's else node, or -1
	targets []int32 // branch targets: the opener node of the label, -1 for the function
	free    []bool  // per loop opcode, in order: its body, nested blocks included, has no call
	calls   bool    // the function has a call
	bulk    bool    // the function has a bulk memory or table instruction
	open    []int32 // open blocks' opener nodes, -1 for the function's own
	loops   []int   // the open loops' indexes in free, innermost last
	cost    []int64 // per node: the longest path from just before it (weigh)
	after   []int64 // scratch for weigh
	labels  labels  // for the second pass (instrumentExpr)
}

var errUnbalanced = errors.New("unbalanced end")

func (s *scan) run(code []byte, lim *limits) error {
	s.nodes, s.elseAt, s.targets, s.free, s.calls, s.bulk = s.nodes[:0], s.elseAt[:0], s.targets[:0], s.free[:0], false, false
	s.open, s.loops = append(s.open[:0], -1), s.loops[:0]
	var plain int64
	add := func(p int, k nodeKind) *node {
		s.nodes = append(s.nodes, node{off: p, kind: k, plain: plain, match: -1})
		s.elseAt = append(s.elseAt, -1)
		plain = 0
		return &s.nodes[len(s.nodes)-1]
	}
	for p := 0; p < len(code); {
		op := code[p]
		size, err := immediates(code[p:])
		if err != nil {
			return err
		}
		if err := lim.check(code[p : p+size]); err != nil {
			return err
		}
		me := int32(len(s.nodes))
		switch op {
		case 0x02, 0x04: // block, if
			k := kBlock
			if op == 0x04 {
				k = kIf
			}
			add(p, k)
			s.open = append(s.open, me)
		case 0x03: // loop
			add(p, kLoop)
			s.open = append(s.open, me)
			s.loops = append(s.loops, len(s.free))
			s.free = append(s.free, true)
		case 0x05: // else
			top := s.open[len(s.open)-1]
			if top < 0 || s.nodes[top].kind != kIf || s.elseAt[top] >= 0 {
				return errors.New("else without if")
			}
			add(p, kElse)
			s.elseAt[top] = me
		case 0x0b: // end
			add(p, kEnd)
			if len(s.open) == 0 {
				return errUnbalanced
			}
			top := s.open[len(s.open)-1]
			s.open = s.open[:len(s.open)-1]
			if top < 0 {
				if p+size != len(code) {
					return errors.New("instructions after the function's end")
				}
				break
			}
			s.nodes[top].match = me
			if e := s.elseAt[top]; e >= 0 {
				s.nodes[e].match = me
			}
			if s.nodes[top].kind == kLoop {
				inner := s.loops[len(s.loops)-1]
				s.loops = s.loops[:len(s.loops)-1]
				if !s.free[inner] && len(s.loops) > 0 {
					s.free[s.loops[len(s.loops)-1]] = false
				}
			}
		case 0x0c, 0x0d, 0x0e: // br, br_if, br_table
			k := kBr
			if op == 0x0d {
				k = kBrIf
			} else if op == 0x0e {
				k = kBrTable
			}
			n := add(p, k)
			n.tgt = int32(len(s.targets))
			if err := s.branchTargets(code[p : p+size]); err != nil {
				return err
			}
			s.nodes[me].ntgt = int32(len(s.targets)) - s.nodes[me].tgt
		case 0x00, 0x0f: // unreachable, return
			add(p, kTerm)
		case 0x10, 0x11, 0x12, 0x13: // call, call_indirect, return_call, return_call_indirect
			s.calls = true
			if len(s.loops) > 0 {
				s.free[s.loops[len(s.loops)-1]] = false
			}
			if op >= 0x12 {
				add(p, kTailCall)
			} else {
				add(p, kCall)
			}
		case 0xfc:
			if shift, ok := bulkShift(code[p+1:]); ok {
				s.bulk = true
				add(p, kBulk).shift = shift
				break
			}
			plain++
		default:
			plain++
		}
		p += size
	}
	if len(s.open) != 0 {
		return errUnbalanced
	}
	s.weigh()
	return nil
}

// branchTargets appends the opener nodes a branch's labels name.
func (s *scan) branchTargets(ins []byte) error {
	p, count := 1, uint32(1)
	if ins[0] == 0x0e {
		c, n := Uleb32(ins[1:])
		p, count = 1+n, c+1
	}
	for range count {
		d, n := Uleb32(ins[p:])
		if uint64(d) >= uint64(len(s.open)) {
			return fmt.Errorf("branch label %d beyond the function", d)
		}
		s.targets = append(s.targets, s.open[len(s.open)-1-int(d)])
		p += n
	}
	return nil
}

// bulkShift: memory.init, memory.copy, memory.fill (bytes, charged one per
// 16) and table.init, table.copy, table.grow, table.fill (elements, one
// per 2). Each takes its length as the last operand.
func bulkShift(b []byte) (uint8, bool) {
	sub, _ := Uleb32(b)
	switch sub {
	case 8, 10, 11:
		return bulkMemoryShift, true
	case 12, 14, 15, 17:
		return bulkTableShift, true
	}
	return 0, false
}

const (
	bulkMemoryShift = 4
	bulkTableShift  = 1
)

// weigh fills cost: the longest path from just before each node, its
// plain instructions included, to a check or the path's end.
func (s *scan) weigh() {
	n := len(s.nodes)
	if cap(s.cost) < n+1 {
		s.cost = make([]int64, n+1)
	}
	s.cost = s.cost[:n+1]
	s.cost[n] = 0
	// next is the longest path from just after node k.
	next := func(k int) int64 { return s.cost[k+1] }
	if cap(s.after) < n {
		s.after = make([]int64, n)
	}
	after := s.after[:n] // per end node: the longest path from after it
	// to is the longest path from a jump to the label of opener o.
	to := func(o int32) int64 {
		if o < 0 || s.nodes[o].kind == kLoop {
			return 0 // the function's end, or a loop header: a check
		}
		return after[s.nodes[o].match]
	}
	for k := n - 1; k >= 0; k-- {
		nd := &s.nodes[k]
		var c int64
		switch nd.kind {
		case kBlock:
			c = next(k)
		case kLoop:
			c = 0
		case kIf:
			alt := int64(0)
			if e := s.elseAt[k]; e >= 0 {
				alt = s.cost[e+1]
			} else if nd.match >= 0 {
				alt = after[nd.match]
			}
			c = 1 + max(next(k), alt)
		case kElse:
			c = after[nd.match] // the then branch ends here and jumps past the end
		case kEnd:
			c = next(k)
			after[k] = c
		case kBr, kBrIf, kBrTable:
			for _, t := range s.targets[nd.tgt : nd.tgt+nd.ntgt] {
				c = max(c, to(t))
			}
			if nd.kind == kBrIf {
				c = max(c, next(k))
			}
			c++
		case kTerm:
			c = 1
		case kTailCall:
			c = 1 + maxUnchecked
		case kCall:
			c = 1 + maxUnchecked + next(k)
		case kBulk:
			c = 1 + next(k)
		}
		s.cost[k] = min(c+nd.plain, maxWeight)
	}
}

// loopWeight is the weight of the check at the header of the loop whose
// opcode is node k: its longest path from after the opcode.
func (s *scan) loopWeight(k int) int64 { return s.cost[k+1] }

// entryWeight is the weight of a check at the function's entry.
func (s *scan) entryWeight() int64 {
	if len(s.cost) == 0 {
		return 0
	}
	return s.cost[0]
}

// check refuses an instruction that names a global, local or function
// the original module does not declare, or memory it does not have.
func (lim *limits) check(ins []byte) error {
	op := ins[0]
	switch {
	case op >= 0x20 && op <= 0x22: // local.get, local.set, local.tee
		if i, _ := Uleb32(ins[1:]); uint64(i) >= lim.locals {
			return fmt.Errorf("local %d not declared", i)
		}
	case op == 0x23 || op == 0x24: // global.get, global.set
		if i, _ := Uleb32(ins[1:]); uint64(i) >= lim.globals {
			return fmt.Errorf("global %d not declared", i)
		}
	case op == 0x10 || op == 0x12 || op == 0xd2: // call, return_call, ref.func
		if i, _ := Uleb32(ins[1:]); uint64(i) >= lim.funcs {
			return fmt.Errorf("function %d not declared", i)
		}
	case !lim.memory && usesMemory(ins):
		return errors.New("memory instruction in a module without memory")
	}
	return nil
}

// usesMemory: loads, stores, memory.size and grow, memory.init, copy and
// fill, SIMD loads and stores, atomics.
func usesMemory(ins []byte) bool {
	op := ins[0]
	switch {
	case op >= 0x28 && op <= 0x40:
		return true
	case op == 0xfc:
		sub, _ := Uleb32(ins[1:])
		return sub == 8 || sub == 10 || sub == 11
	case op == 0xfd:
		sub, _ := Uleb32(ins[1:])
		return sub <= 11 || (sub >= 84 && sub <= 93)
	case op == 0xfe:
		return true
	}
	return false
}
