package rewrite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrModuleBounds is returned by Compile for module bytes that declare
// more than they hold: a vector count, a name or a body longer than the
// bytes left, or more locals or table entries than a host can give.
var ErrModuleBounds = errors.New("module declares more than it holds")

// Limits of what a module may declare, as web engines set them (V8's
// kV8MaxWasmFunctionLocals and kV8MaxWasmTableInitEntries).
const (
	maxFunctionLocals = 50_000
	maxTableEntries   = 10_000_000
)

// CheckBounds walks the sections of a binary module and refuses one whose
// declared counts and lengths exceed the bytes it holds
// (cmd/wasigate/DECISIONS.md#module-bytes-are-checked-before-anything-decodes-them).
// wazero's decoder allocates from those counts before reading what they
// count: a data section declaring 0xFFFFFFFF segments in a 15-byte module
// made it, and the data-segment rewriter, ask for hundreds of GiB, and the
// Go runtime killed the process ("fatal error: runtime: out of memory"), a
// failure no recover catches. Every element of every vector takes at least
// one byte, so a count bounded by the bytes left bounds each allocation by
// a small multiple of the module's size. Only the shape is checked here;
// wazero validates the rest.
func CheckBounds(wasm []byte) error {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil // wazero reports it
	}
	r := &wreader{b: wasm, p: 8, end: len(wasm)}
	for r.p < len(wasm) {
		id := r.byte()
		size := r.count()
		if r.err != nil {
			return r.fail("section header")
		}
		sec := &wreader{b: wasm, p: r.p, end: r.p + size}
		sec.section(id)
		if sec.err == nil && sec.p != sec.end {
			sec.err = fmt.Errorf("%d bytes left over", sec.end-sec.p)
		}
		if sec.err != nil {
			return fmt.Errorf("%w: section %d at offset %d: %w", ErrModuleBounds, id, r.p, sec.err)
		}
		r.p = sec.end
	}
	return nil
}

// wreader reads b[p:end]; the first error sticks and every read after it
// returns zero.
type wreader struct {
	b      []byte
	p, end int
	err    error
}

var errShort = errors.New("unexpected end")

func (r *wreader) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d: %w", ErrModuleBounds, what, r.p, r.err)
}

func (r *wreader) left() int { return r.end - r.p }

func (r *wreader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.p >= r.end {
		r.err = errShort
		return 0
	}
	r.p++
	return r.b[r.p-1]
}

func (r *wreader) skip(n int) {
	if r.err == nil && (n < 0 || n > r.left()) {
		r.err = errShort
	}
	if r.err == nil {
		r.p += n
	}
}

// leb skips a LEB128 of at most max bytes and returns its low 32 bits
// (unsigned).
func (r *wreader) leb(max int) uint32 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.p:min(r.end, r.p+max)])
	if n <= 0 {
		// Uvarint refuses more than 64 bits; a signed 33/64-bit value
		// with its top bits set is read here as unsigned, which is fine
		// for skipping it.
		for i := 0; i < max; i++ {
			if r.p+i >= r.end {
				r.err = errShort
				return 0
			}
			if r.b[r.p+i]&0x80 == 0 {
				r.p += i + 1
				return uint32(v)
			}
		}
		r.err = errors.New("malformed LEB128")
		return 0
	}
	r.p += n
	return uint32(v)
}

func (r *wreader) u32() uint32 { return r.leb(5) }

// count reads a u32 that counts bytes or elements to come: it cannot be
// more than the bytes left.
func (r *wreader) count() int {
	n := int(r.u32())
	if r.err == nil && n > r.left() {
		r.err = fmt.Errorf("declares %d, %d bytes left", n, r.left())
		return 0
	}
	return n
}

func (r *wreader) name() { r.skip(r.count()) }

// valType skips a value type: one byte, or a (ref null? ht) with its heap
// type.
func (r *wreader) valType() {
	if b := r.byte(); b == 0x63 || b == 0x64 {
		r.leb(5) // s33 heap type
	}
}

func (r *wreader) limits(maxMin uint32) {
	flags := r.byte()
	if r.err == nil && flags > 3 {
		r.err = fmt.Errorf("limits flags %#x", flags)
		return
	}
	if m := r.u32(); r.err == nil && maxMin > 0 && m > maxMin {
		r.err = fmt.Errorf("table of %d entries, more than %d", m, maxMin)
	}
	if flags&1 != 0 {
		r.u32()
	}
}

func (r *wreader) table() {
	r.valType()
	r.limits(maxTableEntries)
}

// expr skips a constant expression up to its end opcode.
func (r *wreader) expr() {
	for r.err == nil {
		switch op := r.byte(); op {
		case 0x0b: // end
			return
		case 0x41, 0x23, 0xd2: // i32.const, global.get, ref.func
			r.leb(5)
		case 0x42: // i64.const
			r.leb(10)
		case 0x43:
			r.skip(4)
		case 0x44:
			r.skip(8)
		case 0xd0: // ref.null heap type
			r.leb(5)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant arithmetic
		case 0xfd: // v128.const
			if r.u32() != 12 {
				r.err = errors.New("unknown vector opcode in a constant expression")
			}
			r.skip(16)
		default:
			if r.err == nil {
				r.err = fmt.Errorf("opcode %#x in a constant expression", op)
			}
		}
	}
}

// vec reads a count bounded by the bytes left and calls each that many
// times, stopping at the first error.
func (r *wreader) vec(each func()) {
	for n := r.count(); n > 0 && r.err == nil; n-- {
		each()
	}
}

func (r *wreader) section(id byte) {
	switch id {
	case 0: // custom: only "name" is decoded by wazero
		n := r.count()
		isName := r.err == nil && string(r.b[r.p:r.p+n]) == "name"
		r.skip(n)
		if !isName {
			r.p = r.end
			return
		}
		r.nameSection()
	case 1: // type
		r.vec(func() {
			if f := r.byte(); r.err == nil && f != 0x60 {
				r.err = fmt.Errorf("type form %#x", f)
			}
			r.vec(r.valType)
			r.vec(r.valType)
		})
	case 2: // import
		r.vec(func() {
			r.name()
			r.name()
			r.importDesc()
		})
	case 3: // function
		r.vec(func() { r.u32() })
	case 4: // table
		r.vec(r.table)
	case 5: // memory
		r.vec(func() { r.limits(0) })
	case 6: // global
		r.vec(func() { r.valType(); r.byte(); r.expr() })
	case 7: // export
		r.vec(func() { r.name(); r.byte(); r.u32() })
	case 8, 12: // start, data count
		r.u32()
	case 9: // element
		r.vec(r.element)
	case 10: // code
		r.vec(r.code)
	case 11: // data
		r.vec(func() {
			switch flag := r.u32(); flag {
			case 0:
				r.expr()
			case 1:
			case 2:
				r.u32()
				r.expr()
			default:
				if r.err == nil {
					r.err = fmt.Errorf("data segment flag %d", flag)
				}
			}
			r.name() // the bytes: a length bounded like a name
		})
	case 13: // tag
		r.vec(func() { r.byte(); r.u32() })
	default:
		r.err = fmt.Errorf("unknown section id %d", id)
	}
}

// importDesc reads an import's kind and description and returns the kind;
// an unknown kind is an error.
func (r *wreader) importDesc() byte {
	k := r.byte()
	switch k {
	case 0: // function: type index
		r.u32()
	case 1:
		r.table()
	case 2:
		r.limits(0)
	case 3: // global: type and mutability
		r.valType()
		r.byte()
	case 4: // tag: attribute and type index
		r.byte()
		r.u32()
	default:
		if r.err == nil {
			r.err = fmt.Errorf("import kind %#x", k)
		}
	}
	return k
}

func (r *wreader) element() {
	flag := r.u32()
	if r.err == nil && flag > 7 {
		r.err = fmt.Errorf("element segment flag %d", flag)
		return
	}
	if flag&2 != 0 && flag&1 == 0 { // explicit table index
		r.u32()
	}
	if flag&1 == 0 { // active: offset
		r.expr()
	}
	if flag&3 != 0 { // element kind or reference type
		if flag&4 != 0 {
			r.valType()
		} else {
			r.byte()
		}
	}
	if flag&4 != 0 {
		r.vec(r.expr)
	} else {
		r.vec(func() { r.u32() })
	}
}

func (r *wreader) code() {
	size := r.count()
	if r.err != nil {
		return
	}
	body := &wreader{b: r.b, p: r.p, end: r.p + size}
	var locals uint64
	body.vec(func() {
		locals += uint64(body.u32())
		body.valType()
	})
	if body.err == nil && locals > maxFunctionLocals {
		body.err = fmt.Errorf("function declares %d locals, more than %d", locals, maxFunctionLocals)
	}
	r.err = body.err
	r.p += size
}

// nameSection walks the subsections of the "name" custom section; wazero
// decodes the function names (1) and the local names (2).
func (r *wreader) nameSection() {
	for r.err == nil && r.p < r.end {
		id := r.byte()
		size := r.count()
		if r.err != nil {
			return
		}
		sub := &wreader{b: r.b, p: r.p, end: r.p + size}
		switch id {
		case 0:
			sub.name()
		case 1:
			sub.vec(func() { sub.u32(); sub.name() })
		case 2:
			sub.vec(func() {
				sub.u32()
				sub.vec(func() { sub.u32(); sub.name() })
			})
		}
		r.err = sub.err
		r.p += size
	}
}
