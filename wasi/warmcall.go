package wasi

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// call runs the instance's export name through an api.Function kept for
// the instance's life. Each ExportedFunction is a new wazero call engine
// with a small native stack that the guest then grows by doubling and
// copying: for the Python hello that was 105 KB of the 121 KB allocated a
// request (cloneStack in a heap profile), and garbage for the collector.
// Kept, the stack stays grown. A function is called by one request at a
// time, as the instance is; the stack holds nothing the guest can read
// (WebAssembly locals start at zero).
func (inst *warmInstance) call(ctx context.Context, name string) error {
	fn := inst.fn(name)
	if fn == nil {
		return fmt.Errorf("no exported function %q", name)
	}
	_, err := fn.Call(ctx)
	return err
}

// fn returns the instance's export name, kept; nil when there is none.
// The Ruby interpreter calls its exports through it (ruby.go).
func (inst *warmInstance) fn(name string) api.Function {
	fn := inst.fns[name]
	if fn == nil {
		if fn = inst.mod.ExportedFunction(name); fn == nil {
			return nil
		}
		if inst.fns == nil {
			inst.fns = map[string]api.Function{}
		}
		inst.fns[name] = fn
	}
	return fn
}
