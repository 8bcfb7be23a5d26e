package wasi

import (
	"context"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// TestWithRoot: the empty root comes after the volumes, and a volume
// mounted at "/" is kept instead.
func TestWithRoot(t *testing.T) {
	vol := mount{guest: "/data"}
	got := withRoot([]mount{vol})
	if len(got) != 2 || got[0].guest != "/data" || got[1].guest != "/" {
		t.Fatalf("withRoot: got %+v; want /data then /", got)
	}
	if _, ok := got[1].fs.(emptyRoot); !ok {
		t.Errorf("withRoot: root is %T; want emptyRoot", got[1].fs)
	}
	own := mount{guest: "/", host: "/srv"}
	if got := withRoot([]mount{vol, own}); len(got) != 2 || got[1].host != "/srv" {
		t.Errorf("withRoot with a volume at /: got %+v; want it unchanged", got)
	}
}

// TestEmptyRoot: in the empty root everything is absent (ENOENT), "." is
// an empty read-only folder, and nothing can be created.
func TestEmptyRoot(t *testing.T) {
	root := withRoot(nil)[0].fs
	for _, p := range []string{"nonexistent/x", "etc/passwd", "x"} {
		if _, e := root.OpenFile(p, experimentalsys.O_RDONLY, 0); e != experimentalsys.ENOENT {
			t.Errorf("open %s: got %v; want ENOENT", p, e)
		}
		if _, e := root.Stat(p); e != experimentalsys.ENOENT {
			t.Errorf("stat %s: got %v; want ENOENT", p, e)
		}
	}
	if _, e := root.OpenFile("new", experimentalsys.O_CREAT|experimentalsys.O_WRONLY, 0o644); e == 0 {
		t.Errorf("create new: got success; want an error")
	}
	if e := root.Mkdir("d", 0o755); e == 0 {
		t.Errorf("mkdir d: got success; want an error")
	}
	st, e := root.Stat(".")
	if e != 0 || !fs.FileMode(st.Mode).IsDir() {
		t.Fatalf("stat .: got %v mode %v; want a folder", e, st.Mode)
	}
	d, e := root.OpenFile(".", experimentalsys.O_RDONLY, 0)
	if e != 0 {
		t.Fatalf("open .: %v", e)
	}
	defer d.Close()
	entries, e := d.Readdir(-1)
	if e != 0 || len(entries) != 0 {
		t.Errorf("readdir .: got %d entries, %v; want none", len(entries), e)
	}
}

// TestEmptyRootFilesCap: the empty root takes no host descriptor, but
// every folder the guest opens in it is an entry in wazero's descriptor
// table, held until the instance ends: a guest opening "/" in a loop
// must meet the files cap like one opening a volume, or one request
// grows the server's heap without a bound (100,000 opens here; the
// deadline is the only limit).
func TestEmptyRootFilesCap(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	m, err := e.CompileFile(ctx, filepath.Join("testdata", "root", "openroot.wat"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	const max = 50
	p, err := m.Prepare(Config{Entrypoint: "run", MaxOpenFiles: max, Volumes: []Volume{{Guest: "/v", Host: t.TempDir()}}})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := p.Run(ctx, &Call{Stdout: &out}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("guest printed %q", out.String())
	}
	t.Logf("opens of / that succeeded: %d", n)
	if n > max {
		t.Errorf("opens of / that succeeded: got %d; want at most the files cap, %d", n, max)
	}
}
