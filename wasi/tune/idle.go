package tune

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// After a burst of requests the runtime keeps the heap it grew to: the
// collector's goal only comes down at its next cycle, which an idle server
// runs once every two minutes, and only then does the scavenger start
// giving the pages back, slowly. A server that served 8 connections of
// Python sat at its peak RSS a minute after the load. So when the process
// has allocated next to nothing for an interval after allocating a lot,
// it collects and gives the memory back at once: once per burst, never
// while requests run (each collection stops the world, which waits for
// every running guest).

// Idle release thresholds: an interval is idle when it allocated less than
// idleAllocs, and a burst is worth releasing after busyAllocs.
const (
	IdleInterval = 20 * time.Second
	idleAllocs   = 8 << 20
	busyAllocs   = 256 << 20
)

// ReleaseWhenIdle runs until ctx is done, calling debug.FreeOSMemory after
// each burst of allocation once an interval of every passes without one.
func ReleaseWhenIdle(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := allocated()
	var sinceRelease uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := allocated()
		d := now - last
		last = now
		sinceRelease += d
		if releaseNow(d, sinceRelease) {
			debug.FreeOSMemory()
			sinceRelease = 0
			last = allocated()
		}
	}
}

// releaseNow: the last interval allocated next to nothing after a burst.
func releaseNow(interval, sinceRelease uint64) bool {
	return interval < idleAllocs && sinceRelease >= busyAllocs
}

// allocated is the bytes the process has allocated on the heap so far.
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
