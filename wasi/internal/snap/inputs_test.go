package snap

import (
	"os"
	"testing"

	"github.com/tetratelabs/wazero/experimental/sysfs"

	"github.com/wasigate/wasigate/wasi/internal/guestfs"
)

// TestInputsKey: the key is what a cached snapshot is found by, so its
// format stays put (a change orphans every cached snapshot), every input
// the init sees changes it, and App, which Env already tells apart, does
// not.
func TestInputsKey(t *testing.T) {
	vol := sysfs.DirFS(t.TempDir())
	base := Inputs{Preload: []string{"json"}, Limit: 1 << 20, Args: []string{"ruby"}, Env: []string{"A=1"},
		Dirs: []InitDir{{Guest: "/data", FS: vol, Host: "/srv/data"}, {Guest: "/tmp"}}}
	const want = "limit 1048576\npreload \"json\"\ndirs \"/data\"=\"/srv/data\" \"/tmp\"\nargs \"ruby\"\nenv \"A=1\""
	if got := base.Key(); got != want {
		t.Errorf("Key() = %q; want %q", got, want)
	}
	app := base
	app.App = true
	if app.Key() != base.Key() {
		t.Errorf("App changed the key: %q; want %q", app.Key(), base.Key())
	}
	for _, tc := range []struct {
		name   string
		change func(*Inputs)
	}{
		{"preload", func(in *Inputs) { in.Preload = []string{"json", "set"} }},
		{"limit", func(in *Inputs) { in.Limit = 2 << 20 }},
		{"args", func(in *Inputs) { in.Args = []string{"ruby", "-w"} }},
		{"env", func(in *Inputs) { in.Env = []string{"A=2"} }},
		{"volume host", func(in *Inputs) { in.Dirs = []InitDir{{Guest: "/data", FS: vol, Host: "/srv/other"}, {Guest: "/tmp"}} }},
		{"volume unseen", func(in *Inputs) { in.Dirs = []InitDir{{Guest: "/data"}, {Guest: "/tmp"}} }},
		{"order", func(in *Inputs) { in.Dirs = []InitDir{{Guest: "/tmp"}, {Guest: "/data", FS: vol, Host: "/srv/data"}} }},
	} {
		in := base
		tc.change(&in)
		if in.Key() == base.Key() {
			t.Errorf("%s: the key did not change (%q)", tc.name, in.Key())
		}
	}
	if !base.SeesVolumes() {
		t.Error("SeesVolumes() = false with a volume the init reads; want true")
	}
	if (Inputs{Dirs: []InitDir{{Guest: "/tmp"}}}).SeesVolumes() {
		t.Error("SeesVolumes() = true with empty folders only; want false")
	}
}

// TestInitFS: the init's file system config builds for every kind of
// folder, and its clean-up removes the empty folder it made.
func TestInitFS(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dirs := []InitDir{{Guest: "/data", FS: sysfs.DirFS(t.TempDir()), Host: "x"}, {Guest: "/tmp"}}
	fsc, done, err := InitFS(dirs, guestfs.NewCount(0))
	if err != nil || fsc == nil {
		t.Fatalf("InitFS: got %v, %v; want a config", fsc, err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 1 {
		t.Fatalf("InitFS made %d folders in TMPDIR; want its one empty folder", len(ents))
	}
	done()
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("after its clean-up, TMPDIR holds %d entries; want none", len(ents))
	}
}
