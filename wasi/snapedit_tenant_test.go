package wasi

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// editTenant is one tenant's driver program watching its /lib for edits,
// its retakes for edits in its own build slots.
type editTenant struct {
	p      *Program
	lib    string
	slots  chan struct{}
	events *retakeLog
}

func newEditTenant(t *testing.T, m *Module) *editTenant {
	t.Helper()
	tn := &editTenant{lib: t.TempDir(), slots: make(chan struct{}, 1), events: &retakeLog{}}
	writeTestFile(t, filepath.Join(tn.lib, "data.txt"), "v0\n")
	p, err := m.Prepare(Config{
		Volumes:     []seam.Mount{{Guest: "/lib", Host: tn.lib}},
		MemoryLimit: 16 << 20, InitArgs: []string{"drv"},
		WatchInit: []string{"/lib"}, BuildSlots: tn.slots, Retaken: tn.events.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.fresh == nil || len(p.fresh.src.curWatch) == 0 {
		t.Fatal("want a program whose snapshot's init read a watched /lib/data.txt")
	}
	tn.p = p
	return tn
}

// edit writes data.txt and returns how long the next Refresh took, and
// its error.
func (tn *editTenant) edit(t *testing.T, s string, timeout time.Duration) (time.Duration, error) {
	t.Helper()
	writeTestFile(t, filepath.Join(tn.lib, "data.txt"), s)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err := tn.p.Refresh(ctx)
	return time.Since(start), err
}

func (tn *editTenant) edits() []seam.RetakeEvent {
	return slices.DeleteFunc(tn.events.all(), func(ev seam.RetakeEvent) bool {
		return !slices.Contains(ev.Reasons, seam.RetakeEdited)
	})
}

// TestEditRetakeTenantSlots: a retake for an edit, which a request waits
// for, runs in the route's tenant's build slots. Neither the engine-wide
// slot of background retakes (held here as a slow age retake of another
// interpreter holds it) nor another tenant touching its watched file in
// a loop delays it beyond its own init; and that loop gets at most one
// init per editInterval.
func TestEditRetakeTenantSlots(t *testing.T) {
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	m := compileFile(t, e, filepath.Join("..", "testdata", "guests", "reactor_driver.wasm"))
	a, b := newEditTenant(t, m), newEditTenant(t, m)
	if a.p.fresh.src == b.p.fresh.src {
		t.Fatal("want one snapshot source per tenant (their /lib differ)")
	}

	// The engine's background retake slot busy: B's edit is taken anyway.
	e.retakes.acquire()
	took, err := b.edit(t, "b1\n", 5*time.Second)
	e.retakes.release()
	if err != nil {
		t.Fatalf("B's edit while the engine's background retake slot is held: %v (after %v); want its own retake", err, took)
	}
	if got, err := runDriver(t, b.p, []string{"drv", "/s"}, nil); err != nil || got["lib"] != "b1" {
		t.Fatalf("B after its edit: lib=%q, %v; want lib=b1", got["lib"], err)
	}

	// A's build slots busy: A's edit waits for them, B's does not.
	a.slots <- struct{}{}
	if took, err := a.edit(t, "a1\n", 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("A's edit with A's build slots full: %v after %v; want its timeout", err, took)
	}
	time.Sleep(editInterval) // B's last retake ended over an interval ago
	if took, err := b.edit(t, "b2\n", 5*time.Second); err != nil {
		t.Fatalf("B's edit while A's build slots are full: %v after %v", err, took)
	}
	<-a.slots

	// A touches its file and asks, as fast as it can, for 3s; B edits
	// meanwhile.
	var (
		wg      sync.WaitGroup
		rounds  atomic.Int64
		stop    = make(chan struct{})
		loopErr error
	)
	before := len(a.edits())
	loopStart := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := a.edit(t, fmt.Sprintf("a%d\n", i+2), 5*time.Second); err != nil {
				loopErr = err
				return
			}
			rounds.Add(1)
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	took, err = b.edit(t, "b3\n", 5*time.Second)
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	loop := time.Since(loopStart)
	if loopErr != nil {
		t.Fatalf("A's loop: %v", loopErr)
	}
	if err != nil {
		t.Fatalf("B's edit during A's loop: %v after %v", err, took)
	}
	evs := b.edits()
	init := evs[len(evs)-1].Init
	if took > init+time.Second {
		t.Errorf("B's edit during A's loop waited %v; want at most its own init (%v) and 1s of slack", took, init)
	}
	if got, err := runDriver(t, b.p, []string{"drv", "/s"}, nil); err != nil || got["lib"] != "b3" {
		t.Errorf("B after its edit during A's loop: lib=%q, %v; want lib=b3", got["lib"], err)
	}
	inits := len(a.edits()) - before
	if most := int(loop/editInterval) + 2; inits > most {
		t.Errorf("A's loop of %v (%d rounds) cost %d inits; want at most %d (one per %v)", loop, rounds.Load(), inits, most, editInterval)
	}
	if inits < 2 {
		t.Errorf("A's loop of %v cost %d inits; want its edits seen, about one per %v", loop, inits, editInterval)
	}
	t.Logf("A: %d rounds, %d inits in %v; B's edit during it waited %v (its init %v)", rounds.Load(), inits, loop, took, init)
}
