package wasi

// A reused instance's request: reset to its pristine state, proven, then
// run; anything the reset cannot prove restored is thrown away.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasigate/wasigate/wasi/internal/guestfs"
	"github.com/wasigate/wasigate/wasi/internal/rewrite"
)

// prepareReset records the new instance's starting state.
func (w *warmPool) prepareReset(inst *warmInstance) error {
	p, mod := w.prog, inst.mod
	n := 0
	if im, ok := mod.(experimental.InternalModule); ok {
		n = im.NumGlobal()
	}
	exported, skip := func(int) string { return "" }, -1
	if p.snap != nil {
		// The snapshot module exports every global (snapshot.go).
		exported = func(i int) string { return rewrite.GlobalPrefix + strconv.Itoa(i) }
	} else if p.module.interrupt && n >= 2 {
		// The deadline checks' counter and flag are the last two globals;
		// only the flag is exported.
		skip = n - 2
		exported = func(i int) string {
			if i == n-1 {
				return InterruptGlobal
			}
			return ""
		}
	}
	g, err := newGlobalReset(mod, exported, skip)
	if err != nil {
		return err
	}
	inst.globals = g
	mem := mod.Memory()
	if mem == nil {
		return nil
	}
	inst.size = mem.Size()
	r := &memoryReset{}
	if p.snap != nil {
		img := p.snap.image
		if img.Size() != uint64(inst.size) {
			return fmt.Errorf("memory of %d bytes, image of %d", inst.size, img.Size())
		}
		r.image = img.Data()
		r.mapped = inst.mem.Pooled() && img.Mapped()
	} else {
		buf, _ := mem.Read(0, inst.size)
		w.imageMu.Lock()
		if w.image == nil {
			w.image = bytes.Clone(buf)
		}
		r.image = w.image
		w.imageMu.Unlock()
		// Instantiation is deterministic without a start section (which
		// ReuseBlocker refuses): every instance starts as the first did.
		if !bytes.Equal(buf, r.image) {
			return errors.New("the instance's memory differs from the first instance's")
		}
	}
	if uint64(len(r.image)) != uint64(inst.size) {
		return errors.New("image and memory sizes differ")
	}
	// Only a region of its own is registered for tracking, never the Go
	// heap's fallback; it is unregistered before the region is freed.
	r.canTrack = inst.mem.Pooled()
	inst.mem.OnFree(r.untrack)
	inst.memory = r
	return nil
}

// Idle returns how many instances of the program wait to be reused.
func (p *Program) Idle() int {
	if p.warm == nil {
		return 0
	}
	p.warm.mu.Lock()
	defer p.warm.mu.Unlock()
	return len(p.warm.idle)
}

func (m *memoryReset) ownedBytes() uint64 {
	if m == nil {
		return 0
	}
	return m.owned
}

// close releases the instance, its memory and its scratch folder.
func (inst *warmInstance) close() {
	if inst.parked {
		stats := inst.mem.Stats()
		stats.Instances.Add(1)
		stats.Bytes.Add(int64(inst.size))
	}
	closeInstance(context.Background(), inst.mod)
	inst.mem.Release()
	inst.scratch.Remove()
}

// errMemoryGrew: wazero cannot shrink a memory back.
var errMemoryGrew = errors.New("the memory grew")

// reset puts the instance back to its starting state.
func (inst *warmInstance) reset() error {
	if mem := inst.mod.Memory(); mem != nil {
		if mem.Size() != inst.size {
			return errMemoryGrew
		}
		buf, _ := mem.Read(0, inst.size)
		if err := inst.memory.reset(buf); err != nil {
			return err
		}
	}
	if err := inst.globals.reset(inst.mod); err != nil {
		return err
	}
	return inst.scratch.Clear()
}

// runWarm is Run with a reused instance.
func (p *Program) runWarm(ctx context.Context, c *Call, st *callState) error {
	w := p.warm
	start := time.Now()
	inst := w.get()
	if inst == nil {
		var err error
		if inst, err = w.newInstance(ctx); err != nil {
			if errors.Is(err, errReuseStart) {
				why := err.Error()
				w.offWhy.Store(&why)
				w.off.Store(true)
				return errWarmOff
			}
			c.Instantiate = time.Since(start)
			return p.result(ctx, err)
		}
	} else {
		p.module.engine.pools.Stats().Reused.Add(1)
	}
	c.Instantiate = time.Since(start)
	st.reserved, st.preopens, st.keep = inst.reserved, inst.preopens, true
	if p.locks {
		var release func()
		var scratch *guestfs.Mount
		if inst.scratch != nil {
			scratch = &inst.scratch.Mount
		}
		ctx, release = p.withLocks(ctx, scratch)
		defer release()
	}
	inst.streams.set(c.Stdin, c.Stdout, c.Stderr)
	inst.sleep.set(ctx)
	inst.mem.ClearRefused()
	if inst.flag == nil {
		inst.flag = p.module.flagOf(inst.mod)
	}
	stop := inst.flag.arm(ctx)
	raw := p.module.engine.guard.Run(func() error {
		if p.init {
			if err := inst.call(ctx, "_initialize"); err != nil {
				return err
			}
		}
		if p.ruby != nil {
			return p.runRuby(guestABI{ctx: ctx, mod: inst.mod, fns: inst.fn}, c.Args)
		}
		return inst.call(ctx, p.entry)
	})
	disarmed := stop()
	writeFailed := inst.streams.writeFailed()
	inst.streams.set(nil, nil, nil)
	inst.sleep.set(nil)
	err := p.result(ctx, raw)
	if err != nil && ctx.Err() == nil && inst.mem.Refused() {
		err = &MemoryError{Limit: p.pool.Limit(), Err: err}
	}
	clean := err == nil && (raw == nil || exitedZero(raw)) &&
		ctx.Err() == nil && (disarmed || !p.module.interrupt) && !writeFailed &&
		st.taintReason() == "" && inst.files.GuestOpen() == 0 && !inst.mod.IsClosed()
	if clean && inst.reset() == nil {
		w.put(inst)
	} else {
		p.module.engine.pools.Stats().Discarded.Add(1)
		inst.close()
	}
	return err
}

// Reuses returns how many requests ran in an instance an earlier request
// used, and how many instances were closed after their request instead
// of being reused (an unclean ending or a failed reset), engine-wide.
func (e *Engine) Reuses() (reused, discarded int) {
	return int(e.pools.Stats().Reused.Load()), int(e.pools.Stats().Discarded.Load())
}
