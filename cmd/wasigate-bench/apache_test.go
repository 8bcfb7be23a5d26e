package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    procStat
		wantErr bool
	}{
		{"plain", "4242 (apache2) S 4200 4242 4242 0 -1 4194560 900 0 0 0 7 3 20 10 20 0 1 0 100 0 0\n",
			procStat{pid: 4242, ppid: 4200, cpu: 40 * clockTick}, false},
		{"name with spaces and parentheses", "77 (wsgi:app0 (x) ) S 1 77 77 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 100 0 0\n",
			procStat{pid: 77, ppid: 1, cpu: 10 * clockTick}, false},
		{"truncated", "77 (x) S 1 77", procStat{}, true},
		{"no name", "77 S 1", procStat{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStat(tc.line)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseProcStat: got error %v; want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("parseProcStat: got %+v; want %+v", got, tc.want)
			}
		})
	}
}

// TestApacheBaseline starts the private Apache on a WSGI application and a
// CGI script and checks that both answer, that its CPU time is counted,
// and that stop leaves no process behind.
func TestApacheBaseline(t *testing.T) {
	if why := apacheMissing(); why != "" {
		t.Skip(why)
	}
	repo, err := findRepo()
	if err != nil {
		t.Fatal(err)
	}
	scripts := filepath.Join(repo, "samples", "scripts")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := startApache(ctx, []apacheApp{{file: filepath.Join(scripts, "hello.wsgi"), dir: scripts}, {file: filepath.Join(scripts, "hello.py"), dir: scripts}})
	if err != nil {
		t.Fatal(err)
	}
	pid := a.cmd.Process.Pid
	before := a.cpu()
	if err := waitLoaded(a.url+"/w/hello.wsgi/x", "hello, x, from WSGI"); err != nil {
		t.Error(err)
	}
	for range 20 {
		if err := check(a.url+"/cgi/hello.py", "hello from Python"); err != nil {
			t.Fatal(err)
		}
	}
	// 20 python3 processes take well over 100ms of CPU between them.
	if got := a.cpu() - before; got < 100*time.Millisecond {
		t.Errorf("Apache's CPU time over 20 CGI requests: got %s; want 100ms or more (the scripts' time counted)", got)
	}
	t.Logf("Apache CPU over 20 CGI requests and one WSGI: %s", a.cpu()-before)
	dir := a.dir
	a.stop()
	if n := len(procTree(pid)); n != 0 {
		t.Errorf("after stop: got %d processes under Apache's pid %d; want 0", n, pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after stop: %s is still there (%v); want it removed", dir, err)
	}
}
