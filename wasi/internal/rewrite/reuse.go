package rewrite

import (
	"errors"
	"fmt"
)

// ErrNoReuse wraps every reason ReuseBlocker gives.
var ErrNoReuse = errors.New("instances not reused")

// ReuseBlocker reports why an instance of wasm could not be put back to
// its starting state by resetting its memory and globals alone (wasi's
// instance reuse), or nil when nothing in the module stops it. Decided
// from the code, once, because wazero offers no way to read a table or
// the dropped state of a segment from outside:
//
//   - table.set, table.grow, table.fill, table.copy, table.init and
//     elem.drop change a table or an element segment;
//   - memory.init and data.drop change what a data segment still holds;
//   - a start section runs at instantiation, so two instances need not
//     start alike (it may read the clock or randomness);
//   - an imported table, memory or global is state the host shares.
func ReuseBlocker(wasm []byte) error {
	if len(wasm) < 8 {
		return fmt.Errorf("%w: not a wasm binary module", ErrNoReuse)
	}
	for pos := 8; pos < len(wasm); {
		id := wasm[pos]
		size, n := Uleb32(wasm[pos+1:])
		start := pos + 1 + n
		if n == 0 || uint64(start)+uint64(size) > uint64(len(wasm)) {
			return fmt.Errorf("%w: truncated section", ErrNoReuse)
		}
		body := wasm[start : start+int(size)]
		pos = start + int(size)
		switch id {
		case 2:
			if err := reuseImports(body); err != nil {
				return err
			}
		case 8:
			return fmt.Errorf("%w: the module has a start section", ErrNoReuse)
		case 10:
			if err := reuseCode(body); err != nil {
				return err
			}
		}
	}
	return nil
}

// reuseImports refuses imports of anything but functions.
func reuseImports(sec []byte) error {
	r := &wreader{b: sec, end: len(sec)}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		r.name()
		r.name()
		if kind := r.importDesc(); r.err == nil && kind != 0 {
			return fmt.Errorf("%w: the module imports a table, memory or global", ErrNoReuse)
		}
	}
	if r.err != nil {
		return fmt.Errorf("%w: import section: %v", ErrNoReuse, r.err)
	}
	return nil
}

// reuseCode walks every instruction of every function body.
func reuseCode(sec []byte) error {
	count, p := Uleb32(sec)
	if p == 0 {
		return fmt.Errorf("%w: code section", ErrNoReuse)
	}
	for i := range count {
		size, m := Uleb32(sec[p:])
		if m == 0 || uint64(p)+uint64(m)+uint64(size) > uint64(len(sec)) {
			return fmt.Errorf("%w: code section: function body %d", ErrNoReuse, i)
		}
		fn := sec[p+m : p+m+int(size)]
		p += m + int(size)
		locals, _, _, ok := readLocals(fn)
		if !ok {
			return fmt.Errorf("%w: code section: locals of function body %d", ErrNoReuse, i)
		}
		for code := fn[locals:]; len(code) > 0; {
			if what := stateOp(code); what != "" {
				return fmt.Errorf("%w: function body %d executes %s", ErrNoReuse, i, what)
			}
			k, err := immediates(code)
			if err != nil {
				return fmt.Errorf("%w: function body %d: %v", ErrNoReuse, i, err)
			}
			code = code[k:]
		}
	}
	return nil
}

// stateOp names the instruction at the start of code when it changes a
// table or a segment.
func stateOp(code []byte) string {
	if code[0] == 0x26 {
		return "table.set"
	}
	if code[0] != 0xfc {
		return ""
	}
	sub, n := Uleb32(code[1:])
	if n == 0 {
		return ""
	}
	switch sub {
	case 8:
		return "memory.init"
	case 9:
		return "data.drop"
	case 12:
		return "table.init"
	case 13:
		return "elem.drop"
	case 14:
		return "table.copy"
	case 15:
		return "table.grow"
	case 17:
		return "table.fill"
	}
	return ""
}
