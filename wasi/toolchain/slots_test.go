package toolchain

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/wasigate/wasigate/wasi/seal"
)

// TestWithSlots: a Builder from WithSlots has every setting of its
// parent, shares its cache, and builds in its own slots only: with the
// parent's slots and another tenant's full, its build of the very same
// source still runs, and theirs run once their slots free.
func TestWithSlots(t *testing.T) {
	if _, err := toolFor(WAT); err != nil {
		if os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	key, err := seal.LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	sb := DetectSandbox()
	b := &Builder{Dir: filepath.Join(dir, "cache"), Limits: Limits{Timeout: 30 * time.Second, Memory: 1 << 30, Concurrency: 1},
		Sandbox: &sb, Trusted: !sb.Available(), GoCache: filepath.Join(dir, "go-build"), Key: key}
	if got := b.WithSlots(nil); got != b {
		t.Errorf("WithSlots(nil) = %p; want the Builder itself, %p", got, b)
	}
	busy, mine := make(chan struct{}, 1), make(chan struct{}, 1)
	other, view := b.WithSlots(busy), b.WithSlots(mine)
	pv, pb := reflect.ValueOf(view).Elem(), reflect.ValueOf(b).Elem()
	for i := range pv.NumField() {
		if f := pv.Type().Field(i); f.IsExported() && !reflect.DeepEqual(pv.Field(i).Interface(), pb.Field(i).Interface()) {
			t.Errorf("WithSlots: %s = %v; want the parent's %v", f.Name, pv.Field(i), pb.Field(i))
		}
	}

	src := filepath.Join(dir, "m.wat")
	if err := os.WriteFile(src, []byte("(module (func (export \"_start\")))\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	busy <- struct{}{}               // another tenant's only slot, taken
	release := b.acquire(b.limits()) // the parent's only slot, taken
	results := make(chan error, 2)
	go func() { _, err := other.Build(context.Background(), src); results <- err }()
	go func() { _, err := b.Build(context.Background(), src); results <- err }()
	// Both in flight, waiting for their slots, before the view builds.
	for end := time.Now().Add(10 * time.Second); inflight(b) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d builds in flight; want the 2 waiting for their slots", inflight(b))
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := view.Build(ctx, src)
	if err != nil {
		t.Fatalf("build in its own slots while the others are full: %v", err)
	}
	if res.Cached {
		t.Errorf("first build: cached; want built")
	}
	select {
	case err := <-results:
		t.Fatalf("a build in full slots ended (%v); want it waiting for its slot", err)
	default:
	}
	<-busy
	release()
	for range 2 {
		select {
		case err := <-results:
			if err != nil {
				t.Errorf("build once its slot freed: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a build still waits after its slot freed")
		}
	}
	// One cache for all: the parent finds what the view built.
	if again, err := b.Build(context.Background(), src); err != nil || !again.Cached || again.Path != res.Path {
		t.Errorf("parent after the view's build: %+v, %v; want the cached %s", again, err, res.Path)
	}
}

func inflight(b *Builder) int {
	st := b.state()
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.inflight)
}
