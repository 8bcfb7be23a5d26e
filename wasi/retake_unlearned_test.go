package wasi

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// learnDriver prepares reactor_driver.wasm, learning its preloads, on an
// engine of its own on cache whose learned snapshots' image cap is
// imageMax; every retake's event is added to events.
func learnDriver(t *testing.T, cache, lib, data string, maxAge time.Duration, imageMax uint64, events *retakeLog) (*Engine, *Program) {
	t.Helper()
	e, err := NewEngine(context.Background(), Options{CacheDir: cache, SnapshotMaxAge: maxAge, Retaken: events.add})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	e.learnImageMax = imageMax
	m := compileFile(t, e, filepath.Join("..", "testdata", "guests", "reactor_driver.wasm"))
	p, err := m.Prepare(Config{
		Volumes:     []seam.Mount{{Guest: "/lib", Host: lib}, {Guest: "/data", Host: data, Writable: true}},
		MemoryLimit: 16 << 20, InitArgs: []string{"drv"}, Reuse: true, Learn: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Snapshot().On || p.fresh == nil || p.fresh.src.learn == nil {
		t.Fatalf("Snapshot() = %+v, learning %v; want a learning snapshot", p.Snapshot(), p.fresh != nil && p.fresh.src.learn != nil)
	}
	return e, p
}

type retakeLog struct {
	mu  sync.Mutex
	evs []seam.RetakeEvent
}

func (r *retakeLog) add(ev seam.RetakeEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

func (r *retakeLog) all() []seam.RetakeEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

// serveUntil runs requests until the init's record of data.txt is want,
// failing the test at a request's error or after d.
func serveUntil(t *testing.T, p *Program, want string, d time.Duration, events *retakeLog) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		got, err := runDriver(t, p, []string{"drv", "/s"}, nil)
		if err != nil {
			t.Fatalf("a request while retaking: %v", err)
		}
		if got["lib"] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v past snapshot_max_age the snapshot served still has lib=%q; want a new one with lib=%q; retakes: %s", d, got["lib"], want, describeRetakes(events.all()))
		}
	}
}

func describeRetakes(evs []seam.RetakeEvent) string {
	s := ""
	for _, ev := range evs {
		s += fmt.Sprintf("[reasons %v err %v without learned %v learned %d] ", ev.Reasons, ev.Err, ev.Unlearned, ev.Learned)
	}
	return s
}

// TestRetakeWithoutLearned: an interpreter restarts with a kept learned
// list whose snapshot's image is over the learned image cap, so every
// retake with it fails. Fresh randomness must not wait for it: past
// snapshot_max_age the retake after a failed one is taken without the
// learned names (its init runs again: it reads the new data.txt), says so
// in its event, keeps the learned list (in memory and in the cache
// folder), and the next age retake tries the learned names again.
func TestRetakeWithoutLearned(t *testing.T) {
	cache, lib, data := t.TempDir(), t.TempDir(), t.TempDir()
	writeTestFile(t, filepath.Join(lib, "data.txt"), "one\n")
	// A first start, to keep a learned list where the next one reads it.
	e1, p1 := learnDriver(t, cache, lib, data, time.Hour, defaultLearnImageMax, &retakeLog{})
	file := p1.fresh.src.learn.file
	if file == "" {
		t.Fatal("no file for the learned list with a cache folder")
	}
	if err := writeLearned(e1.sealed.key, file, []string{"json"}); err != nil {
		t.Fatal(err)
	}
	e1.Close(context.Background())

	events := &retakeLog{}
	_, p := learnDriver(t, cache, lib, data, time.Second, 1, events)
	l := p.fresh.src.learn
	learned := func() []string {
		l.mu.Lock()
		defer l.mu.Unlock()
		return slices.Clone(l.names)
	}
	if got := learned(); !slices.Equal(got, []string{"json"}) {
		t.Fatalf("learned list at the restart = %q; want [json]", got)
	}
	writeTestFile(t, filepath.Join(lib, "data.txt"), "two\n")
	serveUntil(t, p, "two", 15*time.Second, events)

	// One age retake with the learned names failed; the next, without
	// them, serves.
	evs := events.all()
	if len(evs) < 2 {
		t.Fatalf("retakes: %s; want a failed one, then one without the learned names", describeRetakes(evs))
	}
	failed, ok := evs[len(evs)-2], evs[len(evs)-1]
	if !errors.Is(failed.Err, errLearnImage) || failed.Unlearned != nil {
		t.Errorf("the retake before: err %v, without learned %v; want the image cap's error, with the learned names", failed.Err, failed.Unlearned)
	}
	if ok.Err != nil || !errors.Is(ok.Unlearned, errLearnImage) || !slices.Equal(ok.Reasons, []string{seam.RetakeAge}) || ok.Learned != 1 {
		t.Errorf("the retake that served: err %v, without learned %v, reasons %v, learned %d; want no error, without the learned names because of the image cap, reasons [%s], 1 learned name kept",
			ok.Err, ok.Unlearned, ok.Reasons, ok.Learned, seam.RetakeAge)
	}
	if got := learned(); !slices.Equal(got, []string{"json"}) {
		t.Errorf("learned list after the retake without it = %q; want [json] kept", got)
	}
	if got := readLearned(file, defaultLearnMax, false); !slices.Equal(got, []string{"json"}) {
		t.Errorf("learned list kept in the cache folder = %q; want [json]", got)
	}

	// The next age retake tries the learned names again (and fails on
	// the cap); the one after, without them, serves again.
	n := len(evs)
	writeTestFile(t, filepath.Join(lib, "data.txt"), "three\n")
	serveUntil(t, p, "three", 15*time.Second, events)
	evs = events.all()[n:]
	if len(evs) < 2 || evs[0].Unlearned != nil || !errors.Is(evs[0].Err, errLearnImage) || evs[len(evs)-1].Err != nil || evs[len(evs)-1].Unlearned == nil {
		t.Errorf("retakes after the one without the learned names: %s; want one with them (failing), then one without", describeRetakes(evs))
	}
}
