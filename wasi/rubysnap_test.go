package wasi

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasigate/wasigate/host/seam"
)

// TestRubySnapshotIsolation: requests from one Ruby snapshot
// each see a fresh interpreter state, their own random numbers and time,
// and their own ENV, ARGV and $0, byte for byte, whatever the values hold.
func TestRubySnapshotIsolation(t *testing.T) {
	mod := rubyModule(t)
	dir := t.TempDir()
	src := `$count = ($count || 0) + 1
COUNTER = [0] unless defined?(COUNTER)
COUNTER[0] += 1
puts $count, COUNTER[0], rand(1 << 60), Time.now.to_r, ARGV.inspect, $0, $PROGRAM_NAME
puts ENV.to_h.sort.inspect
puts defined?(CGI).inspect
`
	if err := os.WriteFile(filepath.Join(dir, "iso.rb"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	prog, err := mod.Prepare(Config{Volumes: []seam.Mount{{Guest: "/cgi-bin", Host: dir}}, MemoryLimit: 256 << 20, Preload: []string{"cgi"}})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	s := prog.Snapshot()
	if !s.On {
		t.Fatalf("Snapshot() = %+v; want On", s)
	}
	t.Logf("snapshot: %+v", s)
	hostile := "a'b\"c\\d#{exit!(7)}\ne\\'f'"
	run := func(arg string, env []string) []string {
		t.Helper()
		var out, errOut bytes.Buffer
		err := prog.Run(context.Background(), &Call{Args: []string{"ruby", "/cgi-bin/iso.rb", arg}, Env: env, Stdout: &out, Stderr: &errOut})
		if err != nil {
			t.Fatalf("Run: %v (stderr %s)", err, errOut.String())
		}
		return strings.Split(out.String(), "\n")
	}
	a := run("first", []string{"X=" + hostile, "ONLY_A=1"})
	b := run(hostile, []string{"X=2"})
	if len(a) < 9 || len(b) < 9 {
		t.Fatalf("output %q, %q; want 9 lines each", a, b)
	}
	for i, name := range []string{"$count", "COUNTER"} {
		if a[i] != "1" || b[i] != "1" {
			t.Errorf("%s = %s, %s; want 1 in each request", name, a[i], b[i])
		}
	}
	if a[2] == b[2] {
		t.Errorf("rand = %s in both requests; want different numbers", a[2])
	}
	if a[3] == b[3] {
		t.Errorf("Time.now = %s in both requests; want different times", a[3])
	}
	if want := `["first"]`; a[4] != want {
		t.Errorf("ARGV = %s; want %s", a[4], want)
	}
	if want := `["a'b\"c\\d\#{exit!(7)}\ne\\'f'"]`; b[4] != want {
		t.Errorf("ARGV = %s; want %s", b[4], want)
	}
	for _, l := range [][]string{a, b} {
		if l[5] != "/cgi-bin/iso.rb" || l[6] != "/cgi-bin/iso.rb" {
			t.Errorf("$0, $PROGRAM_NAME = %s, %s; want /cgi-bin/iso.rb", l[5], l[6])
		}
	}
	if want := `[["ONLY_A", "1"], ["X", "a'b\"c\\d\#{exit!(7)}\ne\\'f'"]]`; a[7] != want {
		t.Errorf("ENV = %s; want %s", a[7], want)
	}
	if want := `[["X", "2"]]`; b[7] != want {
		t.Errorf("ENV = %s; want %s", b[7], want)
	}
	if a[8] != `"constant"` {
		t.Errorf("defined?(CGI) = %s; want \"constant\" (preloaded)", a[8])
	}
}

// BenchmarkRubySnapshot: one request of a CGI script in Ruby (require
// "cgi", read a field, print a header and a line) with the init per
// request and from the snapshot.
func BenchmarkRubySnapshot(b *testing.B) {
	path := rubyModulePath()
	if _, err := os.Stat(path); err != nil {
		b.Skip("ruby.wasm not installed")
	}
	dir := b.TempDir()
	src := `require "cgi"
c = CGI.new
print c.header("text/plain")
puts "hello #{c["name"]}"
`
	if err := os.WriteFile(filepath.Join(dir, "hello.rb"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	mod := rubyModule(b)
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			p, err := mod.Prepare(Config{Volumes: []seam.Mount{{Guest: "/cgi-bin", Host: dir}}, MemoryLimit: 64 << 20, Preload: []string{"cgi"}, NoSnapshot: mode == "off"})
			if err != nil {
				b.Fatal(err)
			}
			if p.Snapshot().On != (mode == "on") {
				b.Fatalf("Snapshot() = %+v", p.Snapshot())
			}
			var out bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				if err := p.Run(context.Background(), &Call{Args: []string{"ruby", "/cgi-bin/hello.rb"}, Env: perfEnv(), Stdout: &out, Stderr: &out}); err != nil {
					b.Fatal(err)
				}
			}
			if !strings.HasSuffix(out.String(), "hello x\n") {
				b.Fatalf("output %q", out.String())
			}
		})
	}
}
