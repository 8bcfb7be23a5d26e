package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasigate/wasigate/router"
	"github.com/wasigate/wasigate/router/metrics"
)

var guestsDir = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "guests")
}()

// syncBuffer is a log sink tests read while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// served is a running `wasigate serve`.
type served struct {
	dir, url, admin string
	logs            *syncBuffer
	client          *http.Client
}

// startServe writes config (after files) into a new folder and runs serve
// on it until the test ends. files maps names in the folder to contents;
// a name starting with "guest:" copies that test guest.
func startServe(t *testing.T, config string, files map[string]string) *served {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if g, ok := strings.CutPrefix(content, "guest:"); ok {
			b, err := os.ReadFile(filepath.Join(guestsDir, g))
			if err != nil {
				t.Fatal(err)
			}
			content = string(b)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "wasigate.toml")
	if err := os.WriteFile(path, []byte("cache_dir = \"cache\"\nadmin_listen = \"127.0.0.1:0\"\n"+config), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, path, "127.0.0.1:0", io.Discard, logs, ready) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("serve did not stop")
		}
	})
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("serve not ready\n%s", logs)
	}
	s := &served{dir: dir, url: "http://" + addr, logs: logs, client: &http.Client{Timeout: 10 * time.Second}}
	m := regexp.MustCompile(`"addr":"(http://[^"]+)/",.*"message":"admin listener`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no admin listener in the log:\n%s", logs)
	}
	s.admin = m[1]
	return s
}

func (s *served) get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := s.client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// waitFor polls url until its body is want (bounded), and says how long.
func (s *served) waitFor(t *testing.T, url, want string) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 15*time.Second {
		if _, body := s.get(t, url); body == want {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("GET %s never answered %q\n%s", url, want, s.logs)
	return 0
}

func helloUpper(t *testing.T) []byte {
	b, err := os.ReadFile(filepath.Join(guestsDir, "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Replace(b, []byte("\nhello\n"), []byte("\nHELLO\n"), 1)
}

func replace(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

const helloRoute = `
[[route]]
path = "/hello"
module = "app.wasm"
`

// TestServeReloadsOnChange: replacing a module file, then breaking it,
// then SIGHUP, while the server runs.
func TestServeReloadsOnChange(t *testing.T) {
	s := startServe(t, helloRoute, map[string]string{"app.wasm": "guest:hello.wasm"})
	if _, body := s.get(t, s.url+"/hello"); body != "hello\n" {
		t.Fatalf("before: body %q; want hello", body)
	}
	replace(t, filepath.Join(s.dir, "app.wasm"), helloUpper(t))
	took := s.waitFor(t, s.url+"/hello", "HELLO\n")
	t.Logf("file change to new answers: %v (debounce %v)", took.Round(time.Millisecond), reloadDebounce)
	if !strings.Contains(s.logs.String(), `"trigger":"changed: `) {
		t.Errorf("no reload event naming the change:\n%s", s.logs)
	}

	// A broken module: rejected, the old one serves on, still ready.
	replace(t, filepath.Join(s.dir, "app.wasm"), []byte("broken"))
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(s.logs.String(), "reload rejected") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	logs := s.logs.String()
	for _, want := range []string{"reload rejected; the previous site keeps serving", "wasigate.toml", `route #1 \"/hello\"`, "app.wasm"} {
		if !strings.Contains(logs, want) {
			t.Errorf("rejection log has no %q:\n%s", want, logs)
		}
	}
	if status, body := s.get(t, s.url+"/hello"); status != 200 || body != "HELLO\n" {
		t.Errorf("after a broken module: %d %q; want 200 HELLO", status, body)
	}
	if status, body := s.get(t, s.admin+"/readyz"); status != 200 {
		t.Errorf("/readyz after a rejected reload: %d %q; want 200", status, body)
	}

	// SIGHUP reloads too (the file is fixed quietly first: the watcher
	// picks that up as well, so only the event's trigger is checked).
	replace(t, filepath.Join(s.dir, "app.wasm"), helloUpper(t))
	s.waitFor(t, s.url+"/hello", "HELLO\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(15 * time.Second)
	for !strings.Contains(s.logs.String(), `"trigger":"SIGHUP"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(s.logs.String(), `"trigger":"SIGHUP"`) {
		t.Errorf("no reload on SIGHUP:\n%s", s.logs)
	}
}

// TestServeAdmin: the admin listener's endpoints, and that none of them is
// on the public listener.
func TestServeAdmin(t *testing.T) {
	s := startServe(t, helloRoute+`
[[tenant]]
name = "acme"
hosts = ["acme.example"]
[tenant.limits]
rate = "1/h"
[[tenant.route]]
path = "/hello"
module = "app.wasm"
`, map[string]string{"app.wasm": "guest:hello.wasm"})
	s.get(t, s.url+"/hello")
	s.get(t, s.url+"/nothing")
	for range 2 {
		req, _ := http.NewRequest("GET", s.url+"/hello", nil)
		req.Host = "acme.example"
		res, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}

	tests := []struct {
		path   string
		status int
		want   []string
	}{
		{"/healthz", 200, []string{"ok"}},
		{"/readyz", 200, []string{"ready: 2 routes, 1 modules"}},
		{"/metrics", 200, []string{
			`wasigate_requests_total{route="/hello",status="200",tenant=""} 1`,
			`wasigate_requests_total{route="",status="404",tenant=""} 1`,
			`wasigate_requests_total{route="/hello",status="200",tenant="acme"} 1`,
			`wasigate_requests_total{route="/hello",status="429",tenant="acme"} 1`,
			`wasigate_rejections_total{reason="rate",route="/hello",tenant="acme"} 1`,
			`wasigate_rejections_total{reason="no route",route="",tenant=""} 1`,
			`wasigate_instantiate_seconds_count{route="/hello",tenant=""} 1`,
			`wasigate_request_duration_seconds_bucket{route="/hello",tenant="acme",le="+Inf"} 2`,
			`wasigate_instances_in_flight{route="/hello",tenant=""} 0`,
			`wasigate_modules 1`,
			`wasigate_module_loads_total{cache="miss"} 1`,
			`wasigate_reloads_total{result="ok"} 1`,
			`go_goroutines`,
		}},
		{"/debug/pprof/", 404, nil},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			status, body := s.get(t, s.admin+tc.path)
			// A request is counted when its handler returns, which can be
			// just after the client has the whole response: wait for it.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !containsAll(body, tc.want); {
				time.Sleep(20 * time.Millisecond)
				status, body = s.get(t, s.admin+tc.path)
			}
			if status != tc.status {
				t.Fatalf("admin %s: status %d; want %d", tc.path, status, tc.status)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("admin %s has no %q:\n%s", tc.path, w, body)
				}
			}
		})
	}
	for _, tc := range tests {
		if status, _ := s.get(t, s.url+tc.path); status != 404 {
			t.Errorf("public listener %s: status %d; want 404", tc.path, status)
		}
	}
}

// TestAdminPprofAndReadiness: pprof only when asked for; /readyz is 503
// until a site is served.
func TestAdminPprofAndReadiness(t *testing.T) {
	live := &router.Live{}
	for _, tc := range []struct {
		name        string
		pprof       bool
		path        string
		wantStatus  int
		wantContent string
	}{
		{"not ready before the first site", false, "/readyz", 503, "not ready"},
		{"alive while loading", false, "/healthz", 200, "ok"},
		{"pprof off", false, "/debug/pprof/", 404, ""},
		{"pprof on", true, "/debug/pprof/", 200, "goroutine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(adminHandler(live, metrics.New(), tc.pprof))
			defer srv.Close()
			res, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.wantStatus || !strings.Contains(string(b), tc.wantContent) {
				t.Errorf("%s: %d %q; want %d containing %q", tc.path, res.StatusCode, b, tc.wantStatus, tc.wantContent)
			}
		})
	}
}

// TestServeTLS: with tls_cert and tls_key the public listener speaks TLS
// and HTTP/2, and guests see HTTPS=on.
func TestServeTLS(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	s := startServe(t, `
tls_cert = "cert.pem"
tls_key = "key.pem"
[[route]]
path = "/env"
module = "env.wasm"
`, map[string]string{"env.wasm": "guest:env.wasm", "cert.pem": string(certPEM), "key.pem": string(keyPEM)})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
	}}
	url := strings.Replace(s.url, "http://", "https://", 1) + "/env"
	res, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Proto != "HTTP/2.0" {
		t.Errorf("status %d proto %s; want 200 HTTP/2.0", res.StatusCode, res.Proto)
	}
	for _, want := range []string{"env-HTTPS=on", "env-SERVER_PROTOCOL=HTTP/2.0"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("guest env has no %s:\n%s", want, b)
		}
	}
	if !logSays(s.logs, `"addr":"https://`, 5*time.Second) {
		t.Errorf("log does not announce https:\n%s", s.logs)
	}
}

// logSays reports whether the log holds want within d: serve's log goes
// through an asynchronous writer, flushed when its queue empties.
func logSays(logs fmt.Stringer, want string, d time.Duration) bool {
	for end := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(logs.String(), want) {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "wasigate test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
