package wasi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestLearnedListSigned: the learned list kept in the cache folder decides
// what a restart's init imports. A restart takes a list this server kept;
// one whose bytes were changed, one with no signature (as kept before
// lists were signed) and one signed for another interpreter copied over
// it are each refused: the restart starts with no learned name, tells it
// in one event (no retake reason, errLearnedRefused) and deletes the
// file, so the next restart says nothing.
func TestLearnedListSigned(t *testing.T) {
	cache, lib, data := t.TempDir(), t.TempDir(), t.TempDir()
	writeTestFile(t, filepath.Join(lib, "data.txt"), "one\n")
	e1, p1 := learnDriver(t, cache, lib, data, time.Hour, defaultLearnImageMax, &retakeLog{})
	file, key := p1.fresh.src.learn.file, e1.sealed.key
	e1.Close(context.Background())
	other := filepath.Join(filepath.Dir(file), "0000.json")

	for _, tt := range []struct {
		name   string
		damage func(t *testing.T)
		want   []string
	}{
		{"kept by the server", func(t *testing.T) {}, []string{"json"}},
		{"bytes changed", func(t *testing.T) {
			b, _ := os.ReadFile(file)
			writeTestFile(t, file, string(b[:len(b)-2])+`,"os"]}`)
		}, nil},
		{"no signature", func(t *testing.T) { os.Remove(learnedSig(file)) }, nil},
		{"another interpreter's", func(t *testing.T) {
			if err := writeLearned(key, other, []string{"os", "subprocess"}); err != nil {
				t.Fatal(err)
			}
			for _, p := range [][2]string{{other, file}, {learnedSig(other), learnedSig(file)}} {
				b, err := os.ReadFile(p[0])
				if err != nil {
					t.Fatal(err)
				}
				writeTestFile(t, p[1], string(b))
			}
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := writeLearned(key, file, []string{"json"}); err != nil {
				t.Fatal(err)
			}
			tt.damage(t)
			events := &retakeLog{}
			e, p := learnDriver(t, cache, lib, data, time.Hour, defaultLearnImageMax, events)
			got := p.fresh.src.learn.current()
			var refused int
			for _, ev := range events.all() {
				if errors.Is(ev.Err, errLearnedRefused) && len(ev.Reasons) == 0 {
					refused++
				}
			}
			e.Close(context.Background())
			if !slices.Equal(got, tt.want) {
				t.Errorf("learned list at the restart = %q; want %q", got, tt.want)
			}
			if tt.want != nil {
				if refused != 0 {
					t.Errorf("%d refusal events for the server's own list; want none", refused)
				}
				return
			}
			if refused != 1 {
				t.Errorf("%d refusal events (events: %s); want 1", refused, describeRetakes(events.all()))
			}
			if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("refused list still in the cache folder (stat: %v); want it deleted", err)
			}
			again := &retakeLog{}
			e2, _ := learnDriver(t, cache, lib, data, time.Hour, defaultLearnImageMax, again)
			e2.Close(context.Background())
			for _, ev := range again.all() {
				if errors.Is(ev.Err, errLearnedRefused) {
					t.Errorf("the restart after a refusal refused again: %v; want nothing told", ev.Err)
				}
			}
		})
	}
}
