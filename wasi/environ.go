package wasi

import (
	"context"
	"errors"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// The guest's environment is handed over through the call's context, read
// by wasigate's own environ_get and environ_sizes_get, and not through
// wazero's ModuleConfig.WithEnv: that clones the config's key map on every
// call, so the ~30 CGI variables of a request cost 30 map copies of
// growing size, about as much as instantiating a C guest
// (BenchmarkLeverEnv). wazero has no call that sets many variables at once.

type environKey struct{}

// environ is one call's environment as WASI preview 1 hands it over: each
// entry "KEY=value" followed by a NUL.
type environ struct {
	vars []string
	size uint32 // bytes of all entries with their NULs
	// read: the guest asked for it; a snapshot's init must not (it would
	// freeze the scratch instance's empty environment into every request).
	read bool
}

// errBadEnviron is returned for a variable that a guest could not read
// back: an empty name, a name with '=', or a NUL anywhere.
var errBadEnviron = errors.New("invalid environment variable")

func newEnviron(vars []string) (*environ, error) {
	env := &environ{}
	if err := env.set(vars); err != nil {
		return nil, err
	}
	return env, nil
}

// set makes env the environment vars, for a call that holds its environ
// in a larger struct (callValues).
func (env *environ) set(vars []string) error {
	*env = environ{vars: vars}
	// seen has a bit for each name's hash: only a name whose bit is
	// already set is compared with the names before it, which made the
	// check quadratic in the ~30 CGI variables of every request.
	var seen [4]uint64
	for i, kv := range vars {
		k, _ := splitEnv(kv)
		if k == "" || strings.IndexByte(kv, 0) >= 0 {
			return errBadEnviron
		}
		h := nameHash(k)
		if seen[h>>6]&(1<<(h&63)) == 0 {
			seen[h>>6] |= 1 << (h & 63)
			env.size += uint32(len(kv)) + 1
			continue
		}
		for _, prev := range vars[:i] {
			if len(prev) > len(k) && prev[len(k)] == '=' && prev[:len(k)] == k {
				dedup, err := newEnvironDedup(vars)
				if err != nil {
					return err
				}
				*env = *dedup
				return nil
			}
		}
		env.size += uint32(len(kv)) + 1
	}
	return nil
}

// nameHash is a variable name's FNV-1a hash, cut to 8 bits.
func nameHash(k string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(k); i++ {
		h = (h ^ uint32(k[i])) * 16777619
	}
	return (h ^ h>>8 ^ h>>16 ^ h>>24) & 0xff
}

// newEnvironDedup keeps one entry per name, as WithEnv did: the last value
// at the place of the first.
func newEnvironDedup(vars []string) (*environ, error) {
	index := make(map[string]int, len(vars))
	out := make([]string, 0, len(vars))
	for _, kv := range vars {
		k, _ := splitEnv(kv)
		if i, ok := index[k]; ok {
			out[i] = kv
			continue
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	return newEnviron(out)
}

// WASI preview 1 errno values.
const (
	errnoSuccess = 0
	errnoFault   = 21
)

// exportEnviron replaces the WASI module's environ_get and
// environ_sizes_get in b with functions that read the call's environ.
// A call without one sees an empty environment.
func exportEnviron(b wazero.HostModuleBuilder) {
	i32 := api.ValueTypeI32
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(environSizesGet), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("result.environc", "result.environv_len").
		Export("environ_sizes_get")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(environGet), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("environ", "environ_buf").
		Export("environ_get")
}

func callEnviron(ctx context.Context) *environ {
	if env, ok := ctx.Value(environKey{}).(*environ); ok {
		return env
	}
	return &environ{}
}

func environSizesGet(ctx context.Context, mod api.Module, stack []uint64) {
	env := callEnviron(ctx)
	env.read = true
	mem := mod.Memory()
	if !mem.WriteUint32Le(uint32(stack[0]), uint32(len(env.vars))) ||
		!mem.WriteUint32Le(uint32(stack[1]), env.size) {
		stack[0] = errnoFault
		return
	}
	stack[0] = errnoSuccess
}

// environGet writes the entries one after another at environ_buf, each
// ending in a NUL, and a pointer to each at environ.
func environGet(ctx context.Context, mod api.Module, stack []uint64) {
	env := callEnviron(ctx)
	env.read = true
	mem := mod.Memory()
	ptrs, buf := uint32(stack[0]), uint32(stack[1])
	// Check the whole ranges first, as wazero does, so a bad pointer
	// writes nothing.
	if _, ok := mem.Read(ptrs, 4*uint32(len(env.vars))); !ok {
		stack[0] = errnoFault
		return
	}
	out, ok := mem.Read(buf, env.size)
	if !ok {
		stack[0] = errnoFault
		return
	}
	at := uint32(0)
	for i, kv := range env.vars {
		mem.WriteUint32Le(ptrs+4*uint32(i), buf+at)
		at += uint32(copy(out[at:], kv))
		out[at] = 0
		at++
	}
	stack[0] = errnoSuccess
}
