package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host"
)

// serveTenantConfig serves the configuration text (relative paths against
// dir); edit may adjust the build options (hooks).
func serveTenantConfig(t testing.TB, dir, text string, edit func(*Options)) (*httptest.Server, *logBuffer, *Site) {
	t.Helper()
	logs := &logBuffer{}
	srv, site := serveSite(t, dir, text, logs, edit)
	return srv, logs, site
}

// rawRequest sends req (an HTTP/1.1 request in wire format, \n line ends
// allowed) on a fresh TCP connection, so that nothing in a client
// normalises the target, and returns the status and body.
func rawRequest(t testing.TB, addr, req string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req = strings.ReplaceAll(strings.ReplaceAll(req, "\r\n", "\n"), "\n", "\r\n")
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", strings.SplitN(req, "\r\n", 2)[0], err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// getHost fetches path from srv with the given Host header.
func getHost(t testing.TB, srv *httptest.Server, hostName, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = hostName
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", path, hostName, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// twoTenants writes a folder with a volume per tenant and returns the
// configuration: tenant a has a secret env value and a volume with a
// secret file; tenant b has the same kinds of routes under other paths.
func twoTenants(t testing.TB, extra string) (dir, text string) {
	dir = t.TempDir()
	for name, content := range map[string]string{
		"a-data/a.txt": "secret from a\n",
		"b-data/b.txt": "file of b\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text = fmt.Sprintf(`%s
[[route]]
path = "/default"
module = %q

[[tenant]]
name = "a"
hosts = ["a.example", "*.a.example"]
[tenant.env]
SECRET_A = "a-secret"
[[tenant.route]]
path = "/x"
module = %[3]q
[[tenant.route]]
path = "/files/*"
module = %[4]q
volumes = { "/data" = "a-data" }

[[tenant]]
name = "b"
hosts = ["b.example"]
[[tenant.route]]
path = "/b/*"
module = %[3]q
[[tenant.route]]
path = "/fs/*"
module = %[4]q
volumes = { "/data" = "b-data" }
`, extra, guest("hello.wasm"), guest("env.wasm"), guest("fs.wasm"))
	return dir, text
}

// TestTenantIsolation asks tenant b's host for everything of tenant a's,
// on raw connections so that dot segments, encoded slashes and
// absolute-form targets reach the server as written.
func TestTenantIsolation(t *testing.T) {
	dir, text := twoTenants(t, "")
	srv, logs, _ := serveTenantConfig(t, dir, text, withFakeLoader(nil))
	addr := srv.Listener.Addr().String()

	secrets := []string{"a-secret", "secret from a"}
	tests := []struct {
		name   string
		target string
		host   string
		want   int // 0: any status, as long as no secret leaks
	}{
		{"a's exact route", "/x", "b.example", 404},
		{"a's prefix route", "/files/?/data/a.txt", "b.example", 404},
		{"dot segments into a's path", "/b/../x", "b.example", 0},
		{"dot segments from root", "/../x", "b.example", 404},
		{"encoded slash", "/b/..%2Fx", "b.example", 0},
		{"encoded slash to a's prefix", "/%2Ffiles/?/data/a.txt", "b.example", 404},
		{"encoded dots", "/b/%2e%2e/files/?/data/a.txt", "b.example", 0},
		{"b's fs probing a's volume", "/fs/?/data/../a-data/a.txt+/data/a.txt+/a-data/a.txt", "b.example", 200},
		{"absolute-form for a with Host b", "http://a.example/x", "b.example", 400},
		{"absolute-form for a's wildcard", "http://x.a.example/files/?/data/a.txt", "b.example", 400},
		{"absolute-form https", "https://a.example/x", "b.example", 400},
		{"b's host with port and case", "/x", "B.EXAMPLE:80", 404},
		{"unknown host gets the default site", "/x", "c.example", 404},
		{"default site does not reach a", "/files/?/data/a.txt", "", 0},
		{"x-forwarded-host untrusted", "/x", "b.example\nX-Forwarded-Host: a.example", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := "GET " + tc.target + " HTTP/1.1\nHost: " + tc.host + "\nConnection: close\n\n"
			if tc.host == "" {
				req = "GET " + tc.target + " HTTP/1.0\n\n"
			}
			status, body := rawRequest(t, addr, req)
			if tc.want != 0 && status != tc.want {
				t.Errorf("status %d; want %d (body %q)", status, tc.want, body)
			}
			for _, s := range secrets {
				if strings.Contains(body, s) {
					t.Errorf("body reveals %q of tenant a:\n%s", s, body)
				}
			}
			if status == 200 && strings.Contains(body, "X_MATCHED_ROUTE=") && !strings.Contains(body, "X_MATCHED_ROUTE=/b/*") {
				t.Errorf("served by a route that is not b's:\n%s", body)
			}
		})
	}

	// What b's own file probe saw: its volume only.
	_, body := rawRequest(t, addr, "GET /fs/?/data/b.txt+/data/a.txt HTTP/1.1\nHost: b.example\nConnection: close\n\n")
	for _, want := range []string{"read /data/b.txt: ok file of b", "read /data/a.txt: denied"} {
		if !strings.Contains(body, want) {
			t.Errorf("b's fs probe: no %q in:\n%s", want, body)
		}
	}
	if !strings.Contains(logs.String(), `"reason":"host"`) {
		t.Errorf("no log event with reason host for the absolute-form targets:\n%s", logs)
	}
}

// TestTenantRouting checks that each host reaches its own tenant, with its
// env, and that logs carry the tenant.
func TestTenantRouting(t *testing.T) {
	dir, text := twoTenants(t, "")
	srv, logs, _ := serveTenantConfig(t, dir, text, withFakeLoader(nil))
	tests := []struct {
		name, host, path string
		status           int
		contains         string
		excludes         string
	}{
		{"a exact", "a.example", "/x", 200, "env-SECRET_A=a-secret", ""},
		{"a upper case with port", "A.Example:8443", "/x", 200, "env-SECRET_A=a-secret", ""},
		{"a trailing dot", "a.example.", "/x", 200, "env-SECRET_A=a-secret", ""},
		{"a wildcard", "www.a.example", "/x", 200, "env-SECRET_A=a-secret", ""},
		{"a deeper wildcard", "x.y.a.example", "/x", 200, "env-SECRET_A=a-secret", ""},
		{"a's volume", "a.example", "/files/?/data/a.txt", 200, "read /data/a.txt: ok secret from a", ""},
		{"b env has no a secret", "b.example", "/b/", 200, "X_MATCHED_ROUTE=/b/*", "SECRET_A"},
		{"b has no default route", "b.example", "/default", 404, "", ""},
		{"a has no default route", "a.example", "/default", 404, "", ""},
		{"default site by unknown host", "other.example", "/default", 200, "hello", ""},
		{"default site by IP", "127.0.0.1", "/default", 200, "hello", ""},
		{"wildcard needs a label", "xa.example", "/x", 404, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := getHost(t, srv, tc.host, tc.path)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d; want %d (body %q)", res.StatusCode, tc.status, body)
			}
			if tc.contains != "" && !strings.Contains(body, tc.contains) {
				t.Errorf("body has no %q:\n%s", tc.contains, body)
			}
			if tc.excludes != "" && strings.Contains(body, tc.excludes) {
				t.Errorf("body has %q:\n%s", tc.excludes, body)
			}
		})
	}
	if !strings.Contains(logs.String(), `"tenant":"a"`) || !strings.Contains(logs.String(), `"tenant":"b"`) {
		t.Errorf("access log does not name the tenants:\n%s", logs)
	}
}

// TestTrustedProxies: X-Forwarded-Host picks the tenant only from a
// trusted peer, and the guest then sees that name.
func TestTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		trusted string
		want    int
		server  string
	}{
		{"loopback trusted", `trusted_proxies = ["127.0.0.1/32"]`, 200, "env-SERVER_NAME=a.example"},
		{"single address trusted", `trusted_proxies = ["127.0.0.1"]`, 200, "env-SERVER_NAME=a.example"},
		{"other network trusted", `trusted_proxies = ["10.0.0.0/8"]`, 404, ""},
		{"none trusted", ``, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, text := twoTenants(t, tc.trusted)
			srv, _, _ := serveTenantConfig(t, dir, text, withFakeLoader(nil))
			res, body := getHost(t, srv, "b.example", "/x", "X-Forwarded-Host", "spoofed.example, a.example")
			if res.StatusCode != tc.want {
				t.Fatalf("status %d; want %d (body %q)", res.StatusCode, tc.want, body)
			}
			if tc.server != "" && !strings.Contains(body, tc.server) {
				t.Errorf("guest env has no %q:\n%s", tc.server, body)
			}
		})
	}
}

// TestTenantConcurrency: a tenant whose instances are all busy gets 503
// on any of its routes, while another tenant is served in full.
func TestTenantConcurrency(t *testing.T) {
	started := make(chan string, 16)
	text := fmt.Sprintf(`
[[tenant]]
name = "busy"
hosts = ["busy.example"]
[tenant.limits]
concurrency = 1
queue_timeout = "20ms"
[[tenant.route]]
path = "/sleep"
module = %[1]q
env = { SLEEP_MS = "20000" }
[[tenant.route]]
path = "/hello"
module = %[2]q

[[tenant]]
name = "calm"
hosts = ["calm.example"]
[tenant.limits]
concurrency = 2
[[tenant.route]]
path = "/hello"
module = %[2]q
`, guest("sleep.wasm"), guest("hello.wasm"))
	srv, logs, _ := serveTenantConfig(t, t.TempDir(), text, withFakeLoader(func(o *Options) {
		o.Running = func(tenant, route string, delta int) {
			if delta > 0 {
				select {
				case started <- tenant + " " + route:
				default:
				}
			}
		}
	}))

	// Hold busy's one slot with a sleeping guest.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/sleep", nil)
		req.Host = "busy.example"
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	if got := <-started; got != "busy /sleep" {
		t.Fatalf("first instance %q; want busy /sleep", got)
	}

	res, body := getHost(t, srv, "busy.example", "/hello")
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("busy tenant, other route: status %d; want 503 (body %q)", res.StatusCode, body)
	}
	if res.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	for i := range 20 {
		res, body := getHost(t, srv, "calm.example", "/hello")
		if res.StatusCode != 200 || body != "hello\n" {
			t.Fatalf("calm tenant request %d: status %d body %q; want 200 hello", i, res.StatusCode, body)
		}
	}
	cancel()
	<-done
	// The one event of the refused request names the tenant, the route
	// and which limit refused it.
	var slotEvent string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"reason":"concurrency"`) {
			slotEvent = line
		}
	}
	for _, want := range []string{"no free tenant slot", `"tenant":"busy"`, `"route":"/hello"`, `"request_id":`} {
		if !strings.Contains(slotEvent, want) {
			t.Errorf("refused request's event has no %s: %q\nlogs:\n%s", want, slotEvent, logs)
		}
	}
	if !strings.Contains(logs.String(), `"reason":"concurrency"`) {
		t.Errorf("no access log event with reason concurrency:\n%s", logs)
	}
}

// TestTenantRate: a tenant over its rate gets 429 with Retry-After; the
// other tenant is not counted against it.
func TestTenantRate(t *testing.T) {
	text := fmt.Sprintf(`
[[tenant]]
name = "limited"
hosts = ["limited.example"]
[tenant.limits]
rate = "3/m"
[[tenant.route]]
path = "/hello"
module = %[1]q

[[tenant]]
name = "free"
hosts = ["free.example"]
[[tenant.route]]
path = "/hello"
module = %[1]q
`, guest("hello.wasm"))
	var mu sync.Mutex
	observed := map[string]int{}
	srv, logs, _ := serveTenantConfig(t, t.TempDir(), text, withFakeLoader(func(o *Options) {
		o.Observe = func(r *http.Request, info *host.Info, status int, d time.Duration) {
			mu.Lock()
			observed[info.Tenant+" "+strconv.Itoa(status)+" "+string(info.Reason)]++
			mu.Unlock()
		}
	}))
	for i := range 3 {
		if res, _ := getHost(t, srv, "limited.example", "/hello"); res.StatusCode != 200 {
			t.Fatalf("request %d within the burst: status %d; want 200", i+1, res.StatusCode)
		}
	}
	res, _ := getHost(t, srv, "limited.example", "/hello")
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th request: status %d; want 429", res.StatusCode)
	}
	// 3 a minute: the next token is about 20 s away.
	if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 20 {
		t.Errorf("Retry-After %q; want 1..20 seconds", res.Header.Get("Retry-After"))
	}
	for i := range 10 {
		if res, _ := getHost(t, srv, "free.example", "/hello"); res.StatusCode != 200 {
			t.Fatalf("other tenant request %d: status %d; want 200", i+1, res.StatusCode)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if observed["limited 429 rate"] != 1 || observed["limited 200 "] != 3 || observed["free 200 "] != 10 {
		t.Errorf("observed %v; want limited 200 x3, limited 429 rate x1, free 200 x10", observed)
	}
	if !strings.Contains(logs.String(), `"reason":"rate"`) {
		t.Errorf("no log event with reason rate:\n%s", logs)
	}
}

// TestTenantLimitsCapRoutes: a tenant's limits are the most its routes
// get; unset route limits come from the tenant.
func TestTenantLimitsCapRoutes(t *testing.T) {
	text := fmt.Sprintf(`
[defaults]
timeout = "30s"

[[tenant]]
name = "small"
hosts = ["small.example"]
[tenant.limits]
timeout = "2s"
memory = "16MiB"
[[tenant.route]]
path = "/mem"
module = %[1]q
memory = "64MiB"
timeout = "10s"
[[tenant.route]]
path = "/quick"
module = %[1]q
timeout = "1s"
`, guest("memhog.wasm"))
	srv, _, site := serveTenantConfig(t, t.TempDir(), text, nil)
	got := map[string]Limits{}
	for _, r := range site.Routes {
		if r.Tenant != "small" {
			t.Errorf("route %s: tenant %q; want small", r.Pattern, r.Tenant)
		}
		got[r.Pattern] = r.Limits
	}
	if l := got["/mem"]; l.Timeout != Duration(2*time.Second) || l.Memory != 16<<20 {
		t.Errorf("/mem limits: timeout %v memory %v; want 2s 16MiB (capped by the tenant)", time.Duration(l.Timeout), l.Memory)
	}
	if l := got["/quick"]; l.Timeout != Duration(time.Second) || l.Memory != 16<<20 {
		t.Errorf("/quick limits: timeout %v memory %v; want 1s (its own) 16MiB (the tenant's)", time.Duration(l.Timeout), l.Memory)
	}
	res, body := getHost(t, srv, "small.example", "/mem")
	if res.StatusCode != 200 || !strings.Contains(body, "allocated 15 MiB") {
		t.Errorf("memhog under the tenant's cap: status %d body %q; want 200 allocated 15 MiB", res.StatusCode, body)
	}
}

func TestTenantConfigErrors(t *testing.T) {
	hello := guest("hello.wasm")
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"duplicate host", fmt.Sprintf(`
[[tenant]]
name = "a"
hosts = ["x.example"]
[[tenant]]
name = "b"
hosts = ["X.example"]
[[tenant.route]]
path = "/"
module = %q`, hello), []string{`tenant #2 "b": host "X.example" is already tenant "a"'s`}},
		{"host with port", `
[[tenant]]
name = "a"
hosts = ["a.example:8080", "*.*.a", "http://a"]`, []string{`host "a.example:8080"`, `host "*.*.a"`, `host "http://a"`}},
		{"no name, no hosts", `
[[tenant]]
hosts = []`, []string{`tenant #1 "": name is required`, `hosts is required`}},
		{"duplicate name", `
[[tenant]]
name = "a"
hosts = ["a"]
[[tenant]]
name = "a"
hosts = ["b"]`, []string{`tenant #2 "a": another tenant has the same name`}},
		{"bad route in tenant", `
[[tenant]]
name = "acme"
hosts = ["acme.example"]
[[tenant.route]]
path = "hello"`, []string{`tenant "acme": route #1 "hello": path must start with /`, `tenant "acme": route #1 "hello": module (or scripts) is required`}},
		{"tenant env collides", `
[[tenant]]
name = "acme"
hosts = ["acme.example"]
env = { HTTP_HOST = "x", "bad-name" = "y" }`, []string{`env HTTP_HOST collides`, `env name "bad-name"`}},
		{"bad rate", `
[[tenant]]
name = "acme"
hosts = ["acme.example"]
[tenant.limits]
rate = "100"`, []string{`invalid rate "100"`}},
		{"tls half", `tls_cert = "c.pem"`, []string{`tls_cert and tls_key go together`}},
		{"bad proxy", `trusted_proxies = ["localhost"]`, []string{`trusted_proxies: "localhost"`}},
		{"unknown tenant key", `
[[tenant]]
name = "acme"
hosts = ["acme.example"]
host = "typo"`, []string{`unknown keys: tenant.host`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(tc.text), "/etc/wasigate/t.toml")
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "/etc/wasigate/t.toml") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func TestRateText(t *testing.T) {
	tests := []struct {
		in   string
		want Rate
		ok   bool
	}{
		{"100/s", Rate{100, time.Second}, true},
		{"600/m", Rate{600, time.Minute}, true},
		{"10/h", Rate{10, time.Hour}, true},
		{"5/250ms", Rate{5, 250 * time.Millisecond}, true},
		{" 7 / s ", Rate{7, time.Second}, true},
		{"0/s", Rate{}, false},
		{"-1/s", Rate{}, false},
		{"100", Rate{}, false},
		{"100/fortnight", Rate{}, false},
		{"x/s", Rate{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var r Rate
			err := r.UnmarshalText([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("error %v; want ok=%v", err, tc.ok)
			}
			if tc.ok && r != tc.want {
				t.Errorf("got %+v; want %+v", r, tc.want)
			}
		})
	}
}

func TestBucket(t *testing.T) {
	b := newBucket(Rate{N: 2, Per: time.Second})
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at    time.Duration
		ok    bool
		retry time.Duration
	}{
		{0, true, 0},
		{0, true, 0},
		{0, false, 500 * time.Millisecond},
		{250 * time.Millisecond, false, 250 * time.Millisecond},
		{500 * time.Millisecond, true, 0},
		{10 * time.Second, true, 0}, // refilled to the burst of 2, not 20
		{10 * time.Second, true, 0},
		{10 * time.Second, false, 500 * time.Millisecond},
	}
	for i, s := range steps {
		ok, retry := b.take(t0.Add(s.at))
		if ok != s.ok || (retry-s.retry).Abs() > time.Millisecond {
			t.Errorf("step %d at %v: got %v, retry %v; want %v, retry %v", i, s.at, ok, retry, s.ok, s.retry)
		}
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM":      "example.com",
		"example.com:8080": "example.com",
		"example.com.":     "example.com",
		"[::1]:80":         "::1",
		"[::1]":            "::1",
		"::1":              "::1",
		"":                 "",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestTenantScripts: a scripts folder inside a tenant gets the tenant's
// env and is reachable from that tenant's hosts only.
func TestTenantScripts(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "cgi"), 0o755); err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(guest("env.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgi", "env.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	srv, _, _ := serveTenantConfig(t, dir, `
[[tenant]]
name = "acme"
hosts = ["acme.example"]
[tenant.env]
API_BASE = "https://api.acme.example"
[[tenant.route]]
path = "/s/*"
scripts = "cgi"
`, nil)
	res, body := getHost(t, srv, "acme.example", "/s/env/x")
	if res.StatusCode != 200 {
		t.Fatalf("acme /s/env/x: status %d; want 200 (body %q)", res.StatusCode, body)
	}
	for _, want := range []string{"env-API_BASE=https://api.acme.example", "env-SCRIPT_NAME=/s/env", "env-PATH_INFO=/x"} {
		if !strings.Contains(body, want) {
			t.Errorf("acme /s/env/x: no %q in\n%s", want, body)
		}
	}
	if res, _ := getHost(t, srv, "other.example", "/s/env/x"); res.StatusCode != http.StatusNotFound {
		t.Errorf("other host /s/env/x: status %d; want 404", res.StatusCode)
	}
}

// TestScriptsInFlightHook: a scripts route reports its running instances
// to the metrics hook like a module route does.
func TestScriptsInFlightHook(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "cgi"), 0o755); err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(guest("hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgi", "hello.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []string
	srv, _, _ := serveTenantConfig(t, dir, "[[route]]\npath = \"/s/*\"\nscripts = \"cgi\"\n", func(o *Options) {
		o.Running = func(tenant, route string, delta int) {
			mu.Lock()
			events = append(events, fmt.Sprintf("%s %s %+d", tenant, route, delta))
			mu.Unlock()
		}
	})
	if res, body := get(t, srv.URL+"/s/hello"); res.StatusCode != 200 || body != "hello\n" {
		t.Fatalf("/s/hello: %d %q; want 200 hello", res.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := strings.Join(events, ","), " /s/* +1, /s/* -1"; got != want {
		t.Errorf("in-flight events %q; want %q", got, want)
	}
}
