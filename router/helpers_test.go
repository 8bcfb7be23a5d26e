package router

// Helpers the router's tests share with the end-to-end tests (router/e2e
// keeps its own copies: a test package cannot import another's).

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyFile copies a file, such as a committed test guest, into dir.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// event is one JSON log line.
type event map[string]any

func (e event) str(k string) string { s, _ := e[k].(string); return s }

func parseEvents(t testing.TB, logs *logBuffer) []event {
	t.Helper()
	var evs []event
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
		}
		evs = append(evs, e)
	}
	return evs
}

// requestEvents waits for the access log event of request id (written
// when the handler returns, which an aborted client may see first) and
// returns every event of that request.
func requestEvents(t testing.TB, logs *logBuffer, id string) []event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var mine []event
		done := false
		for _, e := range parseEvents(t, logs) {
			if e.str("request_id") == id {
				mine = append(mine, e)
				done = done || e.str("message") == "request"
			}
		}
		if done || time.Now().After(deadline) {
			return mine
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// doRaw sends a request with a raw target (not cleaned by the client).
func doRaw(t *testing.T, method, base, target string, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = target
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, target, err)
	}
	return res, string(b)
}

// cgiEnv is what env.wasm printed.
type cgiEnv struct {
	env   map[string]string
	argv  []string
	stdin string
}

func parseEnv(t testing.TB, body string) cgiEnv {
	t.Helper()
	out := cgiEnv{env: map[string]string{}}
	for _, line := range strings.Split(body, "\n") {
		switch {
		case strings.HasPrefix(line, "env-"):
			k, v, _ := strings.Cut(strings.TrimPrefix(line, "env-"), "=")
			out.env[k] = v
		case strings.HasPrefix(line, "argv-"):
			_, v, _ := strings.Cut(line, "=")
			out.argv = append(out.argv, v)
		case strings.HasPrefix(line, "stdin="):
			out.stdin = strings.TrimPrefix(line, "stdin=")
		}
	}
	if len(out.env) == 0 {
		t.Fatalf("no env- lines in body %q", body)
	}
	return out
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

func str(s string) *string { return &s }

// buildError builds config against dir on the fake loader and returns
// Build's error (nil if the site started, which is then closed).
func buildError(t *testing.T, dir, config string) error {
	t.Helper()
	cfg, err := ParseConfig(strings.NewReader(config), filepath.Join(dir, "test.toml"))
	if err != nil {
		return err
	}
	site, err := Build(t.Context(), cfg, Options{Loader: &fakeLoader{}, Log: zerolog.Nop()})
	if err == nil {
		_ = site.Close(t.Context())
	}
	return err
}
