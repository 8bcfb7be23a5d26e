package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPythonSQLiteNative: the guest's locks and those of a native
// sqlite3 process on the same database file exclude each other (what
// another server on the same machine would see): a native transaction
// holding the lock makes a guest write wait and fail after its busy
// timeout, and a guest holding it makes a native write fail likewise.
func TestPythonSQLiteNative(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no native python3 with sqlite3")
	}
	base, data, logs := sqliteSite(t)
	if status, body, err := sqlWrite(base, "init", 0, "5"); err != nil || status != http.StatusFound {
		t.Fatalf("first write: got %d %q %v; want 302\nlog: %s", status, body, err, logs)
	}
	db := filepath.Join(data, "app.db")

	// A native process holds the lock until its stdin is closed.
	cmd := exec.Command(py, "-c", `import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
db.execute("INSERT INTO t VALUES ('native', 1, NULL)")
print("locked", flush=True)
sys.stdin.read()
db.execute("COMMIT")
print("committed", flush=True)
`, db)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	if line, _ := r.ReadString('\n'); line != "locked\n" {
		t.Fatalf("native holder said %q; want locked", line)
	}
	status, body, err := sqlWrite(base, "guest", 1, "0.5")
	if err != nil || status != http.StatusServiceUnavailable || !strings.Contains(body, "database is locked") {
		t.Errorf("guest write under a native lock: got %d %q %v; want 503 database is locked", status, body, err)
	}
	stdin.Close()
	if line, _ := r.ReadString('\n'); line != "committed\n" {
		t.Errorf("native holder said %q; want committed", line)
	}
	cmd.Wait()
	if status, body, err := sqlWrite(base, "guest", 2, "5"); err != nil || status != http.StatusFound {
		t.Errorf("guest write after the native commit: got %d %q %v; want 302", status, body, err)
	}

	// A guest holds the lock until its 5 s timeout.
	hog := make(chan struct{})
	go func() {
		defer close(hog)
		res, err := sqlClient.Get(base + "/h/sqlhog.py?sleep")
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}()
	native := func() string {
		b, _ := exec.Command(py, "-c", `import sqlite3, sys
try:
    with sqlite3.connect(sys.argv[1], timeout=0.3) as db:
        db.execute("INSERT INTO t VALUES ('native', 2, NULL)")
    print("ok")
except sqlite3.OperationalError as e:
    print(e)
`, db).CombinedOutput()
		return strings.TrimSpace(string(b))
	}
	got := ""
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if got = native(); got != "ok" {
			break // the guest has the lock now
		}
	}
	if got != "database is locked" {
		t.Errorf("native write while the guest holds the lock: got %q; want database is locked", got)
	}
	<-hog
	if got := native(); got != "ok" {
		t.Errorf("native write after the guest was stopped: got %q; want ok", got)
	}
	integrity, _, rows := sqlCheck(t, base)
	if integrity != "ok" || !rows["native/1"] || !rows["guest/2"] || rows["guest/1"] || rows["hog/0"] {
		t.Errorf("integrity %q, rows %v; want ok with native/1 and guest/2, without guest/1 and hog/0", integrity, rows)
	}
}

// BenchmarkPythonSQLiteWrites measures inserts per second into one sqlite
// database on a writable volume with 1, 4 and 8 concurrent writers, each
// insert its own request (its own instance), and the same script as
// native CGI (fork+exec of the host's python3 through net/http/cgi):
//
//	go test -run '^$' -bench PythonSQLiteWrites -benchtime 1x ./router/
func BenchmarkPythonSQLiteWrites(b *testing.B) {
	base, _, _ := sqliteSite(b)
	py, _ := exec.LookPath("python3")
	dir := b.TempDir()
	script := filepath.Join(dir, "sqlwrite.py")
	if err := os.WriteFile(script, []byte(sqliteScripts["sqlwrite.py"]), 0o644); err != nil {
		b.Fatal(err)
	}
	native := httptest.NewServer(&cgi.Handler{Path: py, Args: []string{script}, Env: []string{"DB=" + filepath.Join(dir, "app.db")}})
	defer native.Close()
	const each = 10
	for _, side := range []struct{ name, base string }{{"wasigate", base}, {"native", native.URL}} {
		if side.name == "native" && py == "" {
			continue
		}
		for _, n := range []int{1, 4, 8} {
			b.Run(fmt.Sprintf("%s/writers=%d", side.name, n), func(b *testing.B) {
				var acked, failed int
				var took time.Duration
				for i := 0; i < b.N; i++ {
					// cgi.Handler runs its script for any path.
					a, f, d := writers(side.base, n, each, "5")
					acked, failed, took = acked+len(a), failed+len(f), took+d
				}
				if failed > 0 {
					b.Errorf("%d writes failed", failed)
				}
				b.ReportMetric(float64(acked)/took.Seconds(), "writes/s")
			})
		}
	}
}
