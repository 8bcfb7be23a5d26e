package wasi

import (
	"context"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasigate/wasigate/wasi/internal/guestfs"
	"github.com/wasigate/wasigate/wasi/internal/hostlock"
)

// lockModuleName is the import module of the host's file locks: one
// function, lock, that sets or tests a POSIX advisory byte-range lock on
// a file of the guest's volumes, by guest path (internal/hostlock). The
// CPython build's sqlite calls it for every lock its unix VFS takes
// (samples/python/wasi_stubs.c):
//
//	lock(path_ptr, path_len, get i32, type i32, start i64, len i64, conflict_ptr) -> errno
//
// get = 0 sets the lock of type (0 read, 1 write, 2 unlock) without
// waiting; get = 1 writes the type of a conflicting lock, or 2, at
// conflict_ptr. The result is a WASI errno: 0, or 6 (EAGAIN) when the
// lock is held elsewhere. Every lock of an instance is released when it
// ends, however it ends.
const lockModuleName = "wasigate_lock"

// instantiateLock adds the wasigate_lock host module to rt.
func instantiateLock(ctx context.Context, rt wazero.Runtime) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	_, err := rt.NewHostModuleBuilder(lockModuleName).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostLock), []api.ValueType{i32, i32, i32, i32, i64, i64, i32}, []api.ValueType{i32}).
		Export("lock").
		Instantiate(ctx)
	return err
}

type lockKey struct{}

// withLocks returns ctx with a lock table over the call's mounts (with
// the scratch folder when it has one) and the function that releases
// every lock the instance took, to call once it is closed.
func (p *Program) withLocks(ctx context.Context, scratch *guestfs.Mount) (context.Context, func()) {
	var ms []hostlock.Mount
	for _, m := range p.mounts {
		if m.Root != nil {
			ms = append(ms, hostlock.Mount{Guest: m.Guest, Root: m.Root, Writable: m.Writable})
		}
	}
	if scratch != nil {
		ms = append(ms, hostlock.Mount{Guest: scratch.Guest, Root: scratch.Root, Writable: true})
	}
	t := hostlock.New(ms, p.files)
	return context.WithValue(ctx, lockKey{}, t), t.Close
}

// hostLock is wasigate_lock.lock. Outside a call (a snapshot's init) there
// is no table, and every lock fails with ENOLCK.
func hostLock(ctx context.Context, mod api.Module, stack []uint64) {
	stack[0] = uint64(lockCall(ctx, mod, stack))
}

func lockCall(ctx context.Context, mod api.Module, stack []uint64) hostlock.Errno {
	t, _ := ctx.Value(lockKey{}).(*hostlock.Table)
	if t == nil {
		return hostlock.ENOLCK
	}
	pathPtr, pathLen, get := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	typ := hostlock.Type(api.DecodeI32(stack[3]))
	start, length := int64(stack[4]), int64(stack[5])
	if pathLen > hostlock.MaxPath {
		return hostlock.ENAMETOOLONG
	}
	b, ok := mod.Memory().Read(pathPtr, pathLen)
	if !ok {
		return hostlock.EFAULT
	}
	path := string(b)
	if get == 0 {
		return t.Set(path, typ, start, length)
	}
	conflict, e := t.Get(path, typ, start, length)
	if e != hostlock.OK {
		return e
	}
	if !mod.Memory().WriteUint32Le(api.DecodeU32(stack[6]), uint32(conflict)) {
		return hostlock.EFAULT
	}
	return hostlock.OK
}
