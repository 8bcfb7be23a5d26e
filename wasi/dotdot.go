package wasi

import (
	"bytes"
	"context"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasigate/wasigate/wasi/internal/guestfs"
)

// A path that climbs above a volume (open("../x") in /cgi-bin, listdir("..")
// at a volume's top, "/cgi-bin/../../x") reaches the host as "../x" relative
// to the volume's preopen: wasi-libc picks the preopen by the path's text
// and does not resolve "..". wazero refuses it before any file system sees
// it, EPERM, which Python raises as PermissionError where a container would
// answer FileNotFoundError. ("/x/../data/f" goes to the empty root as
// "x/../data/f" and is not found there either.) So the path functions are wrapped: such a path
// is resolved lexically against the guest's absolute path
// (guestfs.Resolve) and the call goes to wazero's own function with the
// preopen that holds it and the path relative to that preopen. The answer
// is then exactly that of the absolute path: /cgi-bin/../x is /x, absent
// in the empty root; /data/../cgi-bin/f is the scripts folder's f. Nothing
// new reaches the host: the rewritten path holds no "..", and the
// volume's os.Root confines it as any other, symbolic links included.
//
// wazero's functions read the path from the guest's memory, so the new one
// is written there for the call and the bytes it covered are put back
// before the guest runs again (the guest does not run during a host call,
// and its memory is not shared with another thread). The place chosen
// overlaps none of the call's other paths nor the buffers it writes.
//
// A path given relative to a folder the guest opened itself (openat with
// its own descriptor) is left to wazero: its guest path is not known here.

// pathArg is where a path function takes one path: the indexes in its
// parameters of the descriptor, the pointer and the length.
type pathArg struct{ fd, ptr, n int }

// outArg is a buffer a path function writes: its pointer's index and its
// length, fixed (size) or a parameter's (lenAt >= 0).
type outArg struct {
	ptr, lenAt int
	size       uint32
}

var pathFuncs = []struct {
	name  string
	paths []pathArg
	outs  []outArg
}{
	{"path_create_directory", []pathArg{{0, 1, 2}}, nil},
	{"path_filestat_get", []pathArg{{0, 2, 3}}, []outArg{{4, -1, 64}}},
	{"path_filestat_set_times", []pathArg{{0, 2, 3}}, nil},
	{"path_link", []pathArg{{0, 2, 3}, {4, 5, 6}}, nil},
	{"path_open", []pathArg{{0, 2, 3}}, []outArg{{8, -1, 4}}},
	{"path_readlink", []pathArg{{0, 1, 2}}, []outArg{{3, 4, 0}, {5, -1, 4}}},
	{"path_remove_directory", []pathArg{{0, 1, 2}}, nil},
	{"path_rename", []pathArg{{0, 1, 2}, {3, 4, 5}}, nil},
	{"path_symlink", []pathArg{{2, 3, 4}}, nil},
	{"path_unlink_file", []pathArg{{0, 1, 2}}, nil},
}

// exportPathFuncs adds the wrapped path functions to b; fns are wazero's.
func exportPathFuncs(b wazero.HostModuleBuilder, fns map[string]api.FunctionDefinition, inner func(string) (api.GoModuleFunction, error)) error {
	for _, pf := range pathFuncs {
		fn, err := inner(pf.name)
		if err != nil {
			return err
		}
		def := fns[pf.name]
		paths, outs := pf.paths, pf.outs
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				s := callStateOf(ctx)
				if s == nil || len(s.preopens) == 0 {
					fn.Call(ctx, mod, stack)
					return
				}
				undo := climbPaths(mod.Memory(), s.preopens, stack, paths, outs)
				fn.Call(ctx, mod, stack)
				undo()
			}), def.ParamTypes(), def.ResultTypes()).
			WithParameterNames(def.ParamNames()...).
			Export(pf.name)
	}
	return nil
}

// span is a range of the guest's memory.
type span struct{ off, n uint64 }

func (a span) overlaps(b span) bool {
	return a.n > 0 && b.n > 0 && a.off < b.off+b.n && b.off < a.off+a.n
}

var dotdot = []byte("..")

// climbPaths rewrites, in stack and in mem, each of the call's paths whose
// ".." climb above its preopen or lead into another; the returned func puts mem's bytes back.
func climbPaths(mem api.Memory, preopens []string, stack []uint64, paths []pathArg, outs []outArg) (undo func()) {
	type saved struct {
		off uint32
		old []byte
	}
	var done []saved
	var taken []span
	for i, a := range paths {
		ptr, n := uint32(stack[a.ptr]), uint32(stack[a.n])
		p, ok := mem.Read(ptr, n)
		if !ok || !bytes.Contains(p, dotdot) {
			continue
		}
		j, rel, ok := guestfs.Resolve(preopens, int(uint32(stack[a.fd]))-3, string(p))
		if !ok {
			continue
		}
		// Busy: the other paths as the guest gave them, the buffers the
		// call writes, and the places already taken.
		busy := append([]span(nil), taken...)
		for k, b := range paths {
			if k != i {
				busy = append(busy, span{uint64(uint32(stack[b.ptr])), uint64(uint32(stack[b.n]))})
			}
		}
		for _, o := range outs {
			size := uint64(o.size)
			if o.lenAt >= 0 {
				size = uint64(uint32(stack[o.lenAt]))
			}
			busy = append(busy, span{uint64(uint32(stack[o.ptr])), size})
		}
		off, ok := freeSpan(uint64(mem.Size()), uint64(len(rel)), uint64(ptr), busy)
		if !ok {
			continue // wazero refuses it, as before
		}
		old, _ := mem.Read(off, uint32(len(rel)))
		done = append(done, saved{off, bytes.Clone(old)})
		taken = append(taken, span{uint64(off), uint64(len(rel))})
		mem.Write(off, []byte(rel))
		stack[a.fd], stack[a.ptr], stack[a.n] = uint64(3+j), uint64(off), uint64(len(rel))
	}
	return func() {
		for i := len(done) - 1; i >= 0; i-- {
			mem.Write(done[i].off, done[i].old)
		}
	}
}

// freeSpan picks where n bytes go: at the guest's own path if they fit
// there with nothing busy, else at either end of memory.
func freeSpan(size, n, own uint64, busy []span) (uint32, bool) {
	for _, off := range []uint64{own, 0, size - min(size, n)} {
		s := span{off, n}
		if off+n > size {
			continue
		}
		free := true
		for _, b := range busy {
			if s.overlaps(b) {
				free = false
				break
			}
		}
		if free {
			return uint32(off), true
		}
	}
	return 0, false
}
