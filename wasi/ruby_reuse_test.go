package wasi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// rubyHostile is a script that first prints what an earlier request of
// its instance could have left behind, then does what ARGV[0] names to
// leave something for the next one.
const rubyHostile = `
f = File.open($0); fd = f.fileno; f.close
puts [$left.inspect, defined?(LEFT).inspect, ENV["LEFT"].inspect, Dir.pwd, "".respond_to?(:left),
  defined?(JSON).inspect, $stdout.equal?(STDOUT), GC.enable, fd, File.exist?("/tmp/left"),
  $stdout.sync, $,.inspect, $/.inspect].join(" ")
puts rand(1 << 60)
case ARGV[0]
when "global" then $left = 1
when "const" then Object.const_set(:LEFT, 1)
when "env" then ENV["LEFT"] = "x"
when "chdir" then Dir.chdir("/tmp")
when "monkey" then String.class_eval { def left = 1 }
when "require" then require "json"
when "stdout" then $stdout = STDERR
when "sync" then $stdout.sync = true; $/ = "x"
when "gc" then GC.disable
when "tmp" then File.write("/tmp/left", "x")
when "srand" then srand(42); puts rand(1 << 60)
when "exit0" then exit 0
when "open" then $keep = File.open($0)
when "grow" then $big = "x" * (32 << 20)
when "close" then $stdout.flush; $stdout.close
when "exit3" then exit 3
when "raise" then raise "boom"
end
`

// TestRubyReuseHostile: a Ruby script tries to leave something for the
// next request of its reused instance. Each attempt is reset (Ruby keeps
// all of it in the instance's memory) or ends the reuse (an open file, a
// failure), and the next request sees what a fresh instance sees.
func TestRubyReuseHostile(t *testing.T) {
	mod := rubyModule(t)
	e := mod.engine
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "h.rb"), []byte(rubyHostile), 0o644); err != nil {
		t.Fatal(err)
	}
	prog, err := mod.Prepare(Config{Volumes: []seam.Mount{{Guest: "/cgi-bin", Host: dir}}, MemoryLimit: 256 << 20,
		Scratch: "/tmp", Reuse: true, ReuseMax: 1})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if on, why := prog.Reuse(); !on {
		t.Fatalf("Reuse() = off (%s); want on", why)
	}
	if !prog.Snapshot().On {
		t.Fatalf("Snapshot() = %+v; want On", prog.Snapshot())
	}
	run := func(action string) (probe, rand, rest string, err error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err = prog.Run(context.Background(), &Call{Args: []string{"ruby", "/cgi-bin/h.rb", action},
			Env: []string{"PWD=/cgi-bin"}, Stdout: &out, Stderr: &errOut})
		lines := strings.SplitN(out.String()+errOut.String(), "\n", 3)
		for len(lines) < 3 {
			lines = append(lines, "")
		}
		return lines[0], lines[1], lines[2], err
	}
	fresh, _, rest, err := run("none")
	if err != nil {
		t.Fatalf("first request: %v (%s %s)", err, fresh, rest)
	}
	// 10 is the descriptor a fresh instance's next open gets (the
	// preopens and the packed standard library's come first): a file
	// left open would move it.
	if want := "nil nil nil /cgi-bin false nil true false 10 false false nil \"\\n\""; fresh != want {
		t.Fatalf("fresh state: got %q; want %q", fresh, want)
	}
	fds := openFDs(t)
	for _, tt := range []struct {
		action string
		fails  bool
		kept   bool // the instance is reused after it
	}{
		{"global", false, true},
		{"const", false, true},
		{"env", false, true},
		{"chdir", false, true},
		{"monkey", false, true},
		{"require", false, true},
		{"stdout", false, true},
		{"sync", false, true},
		{"gc", false, true},
		{"tmp", false, true},
		{"srand", false, true},
		{"exit0", false, true},
		{"open", false, false}, // a file left open
		{"close", true, false}, // $stdout closed: the bootstrap's flush raises
		{"exit3", true, false}, // a non-zero exit status
		{"raise", true, false}, // an uncaught exception
	} {
		t.Run(tt.action, func(t *testing.T) {
			if probe, _, _, err := run("none"); probe != fresh || err != nil {
				t.Fatalf("warm-up: got %q, %v; want %q", probe, err, fresh)
			}
			reused, discarded := e.Reuses()
			_, _, rest, err := run(tt.action)
			if (err != nil) != tt.fails {
				t.Errorf("action: err = %v; want failed %v", err, tt.fails)
			}
			var exit *ExitError
			if tt.action == "exit3" && (!errors.As(err, &exit) || exit.Code != 3) {
				t.Errorf("exit3: err = %v; want exit code 3", err)
			}
			r2, d2 := e.Reuses()
			if r2 != reused+1 {
				t.Errorf("the action's request did not run in a reused instance (reused %d -> %d)", reused, r2)
			}
			if kept := d2 == discarded; kept != tt.kept {
				t.Errorf("instance kept: got %v; want %v", kept, tt.kept)
			}
			for i := range 2 {
				probe, rnd, _, err := run("none")
				if probe != fresh || err != nil {
					t.Errorf("next request %d: got %q, %v; want %q", i, probe, err, fresh)
				}
				if tt.action == "srand" && rnd == strings.TrimSpace(rest) {
					t.Errorf("next request %d: rand = %s, the number after srand(42); want a fresh seed", i, rnd)
				}
			}
		})
	}
	if n := openFDs(t); n > fds {
		t.Errorf("open descriptors: %d after the hostile requests, %d before; want none left", n, fds)
	}
	if prog.Idle() != 1 {
		t.Errorf("idle instances: got %d; want 1", prog.Idle())
	}
}

// BenchmarkRubyReuse: the CGI script of BenchmarkRubySnapshot (require
// "cgi") booted in a new instance per request (ruby-init, no snapshot),
// from the snapshot in a new instance, and from the snapshot in a reused
// instance, interleaved request by request so that a shared machine's
// load falls on the three alike: read the ratios.
//
//	go test ./wasi -run '^$' -bench RubyReuse -benchtime 40x
func BenchmarkRubyReuse(b *testing.B) {
	mod := rubyModule(b)
	dir := b.TempDir()
	src := "require \"cgi\"\nc = CGI.new\nprint c.header(\"text/plain\")\nputs \"hello #{c[\"name\"]}\"\n"
	if err := os.WriteFile(filepath.Join(dir, "hello.rb"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	type way struct {
		name string
		c    Config
		p    *Program
		sum  time.Duration
	}
	vol := []seam.Mount{{Guest: "/cgi-bin", Host: dir}}
	ways := []*way{
		{name: "boot", c: Config{Volumes: vol, MemoryLimit: 256 << 20, NoSnapshot: true}},
		{name: "fresh", c: Config{Volumes: vol, MemoryLimit: 256 << 20, Preload: []string{"cgi"}}},
		{name: "reused", c: Config{Volumes: vol, MemoryLimit: 256 << 20, Preload: []string{"cgi"}, Reuse: true}},
	}
	var out bytes.Buffer
	run := func(w *way) time.Duration {
		out.Reset()
		start := time.Now()
		if err := w.p.Run(context.Background(), &Call{Args: []string{"ruby", "/cgi-bin/hello.rb"}, Env: perfEnv(), Stdout: &out, Stderr: &out}); err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		if !strings.HasSuffix(out.String(), "hello x\n") {
			b.Fatalf("%s: output %q", w.name, out.String())
		}
		return d
	}
	for _, w := range ways {
		p, err := mod.Prepare(w.c)
		if err != nil {
			b.Fatal(err)
		}
		if on, why := p.Reuse(); on != w.c.Reuse && !reuseForTests {
			b.Fatalf("%s: Reuse() = %v (%s)", w.name, on, why)
		}
		w.p = p
		run(w) // the snapshot is taken, the pool filled
	}
	reused, _ := mod.engine.Reuses()
	for b.Loop() {
		for _, w := range ways {
			w.sum += run(w)
		}
	}
	if r, _ := mod.engine.Reuses(); r-reused < b.N {
		_, d := mod.engine.Reuses()
		on, why := ways[2].p.Reuse()
		b.Fatalf("%d requests ran in a reused instance; want at least %d (discarded %d, reuse %v %s)", r-reused, b.N, d, on, why)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	for _, w := range ways {
		b.ReportMetric(ms(w.sum), w.name+"-ms/op")
	}
	b.ReportMetric(float64(ways[0].sum)/float64(ways[2].sum), "boot/reused")
	b.ReportMetric(float64(ways[1].sum)/float64(ways[2].sum), "fresh/reused")
}

// TestRubyReuseDifferential: the sample hello.rb (cgi, a form field, a
// cookie) answers byte for byte the same through a reused instance as
// through a new one from the same snapshot, request after request.
func TestRubyReuseDifferential(t *testing.T) {
	mod := rubyModule(t)
	scripts, err := filepath.Abs(filepath.Join("..", "samples", "scripts"))
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Volumes: []seam.Mount{{Guest: "/s", Host: scripts}}, MemoryLimit: 64 << 20, Preload: []string{"cgi"}}
	// A new instance per request whatever WASIGATE_TEST_REUSE says.
	forced := reuseForTests
	reuseForTests = false
	fresh, err := mod.Prepare(c)
	reuseForTests = forced
	if err != nil {
		t.Fatal(err)
	}
	c.Reuse = true
	warm, err := mod.Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	if on, why := warm.Reuse(); !on {
		t.Fatalf("Reuse() = off (%s); want on", why)
	}
	r0, _ := mod.engine.Reuses()
	const n = 5
	for i := range n {
		var env []string
		for _, kv := range perfEnv() {
			if k, _, _ := strings.Cut(kv, "="); k != "SCRIPT_NAME" && k != "QUERY_STRING" && k != "HTTP_COOKIE" {
				env = append(env, kv)
			}
		}
		env = append(env, "SCRIPT_NAME=/s/hello.rb", fmt.Sprintf("QUERY_STRING=name=r%d", i), fmt.Sprintf("HTTP_COOKIE=visits=%d", i))
		var a, b bytes.Buffer
		errA := fresh.Run(context.Background(), &Call{Args: []string{"ruby", "/s/hello.rb"}, Env: env, Stdout: &a, Stderr: &a})
		errB := warm.Run(context.Background(), &Call{Args: []string{"ruby", "/s/hello.rb"}, Env: env, Stdout: &b, Stderr: &b})
		if errA != nil || errB != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("request %d: fresh %v %q; reused %v %q", i, errA, a.String(), errB, b.String())
		}
		if want := fmt.Sprintf("Hello, r%d, from Ruby", i); !strings.Contains(a.String(), want) {
			t.Fatalf("request %d: %q; want it to contain %q", i, a.String(), want)
		}
	}
	if r1, _ := mod.engine.Reuses(); r1-r0 != n-1 {
		t.Errorf("requests in a reused instance: got %d; want %d", r1-r0, n-1)
	}
}
