package router

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
)

// A fake guest is a module file whose behaviour is written in it, so that a
// test can make one that answers anything, fails to load, builds slowly
// or reports a snapshot, and can change it in place as a deploy or an
// editor does, without a compiler. Its first line is fakeGuestHeader; each
// other line is a directive (blank lines and # comments are skipped), texts
// are Go-quoted strings:
//
//	write "Content-Type: text/plain\n\nhello\n"  _start writes this (default: nothing)
//	as env.wasm                                   _start is the named fake program (fakePrograms)
//	export alpha "text"                           an export alpha that writes text (_routes too)
//	refuse "bad magic number"                     Load fails, as for a malformed module
//	build-delay 300ms                             a scripts build takes this long
//	build-fail "undefined: x"                     a scripts build fails with this output
//	snapshot on | off | refused "why" | initerr "why"
//	                                              what its programs' Snapshot says
//
// A file that does not start with the header is run by its name, as
// fakePrograms says; any other file is refused as not a module.
const fakeGuestHeader = "# fake guest\n"

// fakeGuest is what a fake guest's file says.
type fakeGuest struct {
	name       string // the file's base name, for errors
	start      fakeRun
	exports    map[string]fakeRun
	refuse     string
	buildDelay time.Duration
	buildFail  string
	snapshot   seam.Snapshot
}

type fakeRun = func(ctx context.Context, rc seam.RunConfig, inv *host.Invocation) error

// errFakeNotModule is the fake loader's answer to a file that is neither a
// fake guest nor a test guest it knows by name: the real loader's
// "not a wasm module".
var errFakeNotModule = errors.New("fake loader: not a module")

// readFakeGuest reads the guest at path: a fake guest by its content,
// else a known test guest by its name.
func readFakeGuest(path string) (*fakeGuest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, len(fakeGuestHeader))
	n, _ := io.ReadFull(f, head)
	base := filepath.Base(path)
	if !bytes.Equal(head[:n], []byte(fakeGuestHeader)) {
		if run, ok := fakePrograms[base]; ok {
			return &fakeGuest{name: base, start: run, exports: fakeExports[base]}, nil
		}
		return nil, fmt.Errorf("%w: %s is neither a fake guest nor a test guest known by name", errFakeNotModule, base)
	}
	rest, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return parseFakeGuest(base, string(rest))
}

// parseFakeGuest reads a fake guest's directives (what follows the header).
func parseFakeGuest(name, text string) (*fakeGuest, error) {
	g := &fakeGuest{name: name, start: fakeWrite(""), exports: map[string]fakeRun{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 2; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		word, arg, _ := strings.Cut(line, " ")
		arg = strings.TrimSpace(arg)
		if err := g.directive(word, arg); err != nil {
			return nil, fmt.Errorf("fake guest %s: line %d %q: %w", name, n, line, err)
		}
	}
	return g, sc.Err()
}

func (g *fakeGuest) directive(word, arg string) error {
	switch word {
	case "write":
		s, err := strconv.Unquote(arg)
		g.start = fakeWrite(s)
		return err
	case "as":
		run, ok := fakePrograms[arg]
		if !ok {
			return fmt.Errorf("no fake program %q", arg)
		}
		g.start = run
	case "export":
		name, q, _ := strings.Cut(arg, " ")
		s, err := strconv.Unquote(strings.TrimSpace(q))
		g.exports[name] = fakeWrite(s)
		return err
	case "refuse":
		s, err := strconv.Unquote(arg)
		g.refuse = s
		return err
	case "build-delay":
		d, err := time.ParseDuration(arg)
		g.buildDelay = d
		return err
	case "build-fail":
		s, err := strconv.Unquote(arg)
		g.buildFail = s
		return err
	case "snapshot":
		kind, q, _ := strings.Cut(arg, " ")
		why := ""
		if q != "" {
			var err error
			if why, err = strconv.Unquote(strings.TrimSpace(q)); err != nil {
				return err
			}
		}
		switch kind {
		case "on":
			g.snapshot = seam.Snapshot{On: true, Mapped: true, Image: 64 << 10, InitTime: time.Millisecond}
		case "off":
			g.snapshot = seam.Snapshot{Off: true, Reason: "snapshot turned off"}
		case "refused":
			g.snapshot = seam.Snapshot{Reason: why}
		case "initerr":
			g.snapshot = seam.Snapshot{Reason: why, InitErr: errors.New(why)}
		default:
			return fmt.Errorf("snapshot %q: want on, off, refused or initerr", kind)
		}
	default:
		return fmt.Errorf("unknown directive %q", word)
	}
	return nil
}

// snapshotFor is what a program of g bound to rc says of its snapshot: the
// configuration's "off" wins, as the real engine's does.
func (g *fakeGuest) snapshotFor(rc seam.RunConfig) seam.Snapshot {
	if rc.NoSnapshot && (g.snapshot.On || g.snapshot.Refused()) {
		return seam.Snapshot{Off: true, Reason: "snapshot turned off"}
	}
	return g.snapshot
}

// fakeGuestText is a fake guest's file content from its directives.
func fakeGuestText(lines ...string) string {
	return fakeGuestHeader + strings.Join(lines, "\n") + "\n"
}

// writeFakeGuest writes a fake guest with the directives to path.
func writeFakeGuest(t testing.TB, path string, lines ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(fakeGuestText(lines...)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writes is the write directive of a guest whose _start prints a plain
// text body.
func writes(body string) string {
	return "write " + strconv.Quote("Content-Type: text/plain\n\n"+body)
}
