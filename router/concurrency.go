package router

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wasigate/wasigate/host"
)

// limiter bounds the instances of a route (or a tenant) running at once.
// A request that finds no free slot waits up to wait, then gets 503 with
// Retry-After.
type limiter struct {
	slots chan struct{}
	wait  time.Duration
	what  string // "route" or "tenant", for the log
}

func newLimiter(n int, wait time.Duration, what string) *limiter {
	return &limiter{slots: make(chan struct{}, n), wait: wait, what: what}
}

// limit is the middleware of l: a request runs on holding one of its
// slots. A nil limiter (a tenant without concurrency) lets all through.
func limit(l *limiter) func(http.Handler) http.Handler {
	if l == nil {
		return passThrough
	}
	return l.wrap
}

func (l *limiter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held := heldSlotsFrom(r.Context())
		if held.holds(l) {
			// An internal redirect back to a route (or tenant) whose slot
			// the request holds: one request is one slot
			// (cmd/wasigate/DECISIONS.md#one-request-one-slot-one-deadline).
			next.ServeHTTP(w, r)
			return
		}
		// A hop to another route gives back the slot of the route it
		// leaves, whose run is over, before queueing for this one: never
		// two slots of one kind held, never a wait while holding one.
		held.release(l.what)
		if !l.acquire(w, r) {
			return
		}
		held.add(l)
		defer held.drop(l)
		next.ServeHTTP(w, r)
	})
}

// acquire takes a slot, waiting up to l.wait; false means the request has
// been answered (503) or its client left.
func (l *limiter) acquire(w http.ResponseWriter, r *http.Request) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	start := time.Now()
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		host.InfoFrom(r.Context()).QueueWait += time.Since(start)
		return true
	case <-t.C:
		// The access log event says why: one event per request.
		info := host.InfoFrom(r.Context())
		info.Reason = host.ReasonConcurrency
		info.Err = fmt.Errorf("no free %s slot (concurrency %d) within %v", l.what, cap(l.slots), l.wait)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(l.wait/time.Second))))
		http.Error(w, "server busy, retry later", http.StatusServiceUnavailable)
		return false
	case <-r.Context().Done():
		host.InfoFrom(r.Context()).Status = 499 // gone while queued
		return false
	}
}

// heldSlots are the limiter slots one request holds (a tenant's and a
// route's at most), kept in its context (requestCtx) so that its internal
// redirects, which route afresh below the access log, find them. A
// request's hops run one inside the other on its goroutine: no lock.
type heldSlots struct {
	slots []*limiter
	buf   [2]*limiter
}

type heldKey struct{}

// requestCtx is what the access log puts in a request's context, in one
// allocation where the Info, its context and the held slots took three:
// the request's host.Info and its held slots.
type requestCtx struct {
	host.InfoContext
	held heldSlots
}

// newRequestCtx returns the context of a request under the access log.
func newRequestCtx(parent context.Context) *requestCtx {
	c := &requestCtx{InfoContext: host.InfoContext{Context: parent}}
	c.held.slots = c.held.buf[:0]
	return c
}

// Value implements context.Context.
func (c *requestCtx) Value(key any) any {
	if key == (heldKey{}) {
		return &c.held
	}
	return c.InfoContext.Value(key)
}

// heldSlotsFrom returns the request's held slots; nil (a request served
// without the access log) holds none and keeps none.
func heldSlotsFrom(ctx context.Context) *heldSlots {
	h, _ := ctx.Value(heldKey{}).(*heldSlots)
	return h
}

func (h *heldSlots) holds(l *limiter) bool {
	if h == nil {
		return false
	}
	for _, s := range h.slots {
		if s == l {
			return true
		}
	}
	return false
}

func (h *heldSlots) add(l *limiter) {
	if h != nil {
		h.slots = append(h.slots, l)
	}
}

// release gives back the slots of kind what the request holds.
func (h *heldSlots) release(what string) {
	if h == nil {
		return
	}
	kept := h.slots[:0]
	for _, s := range h.slots {
		if s.what == what {
			<-s.slots
			continue
		}
		kept = append(kept, s)
	}
	clear(h.slots[len(kept):])
	h.slots = kept
}

// drop gives back l's slot if the request still holds it (a later hop may
// have released it already).
func (h *heldSlots) drop(l *limiter) {
	if h == nil {
		<-l.slots
		return
	}
	for i, s := range h.slots {
		if s == l {
			<-l.slots
			h.slots = append(h.slots[:i], h.slots[i+1:]...)
			return
		}
	}
}
