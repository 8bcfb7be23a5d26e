package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasigate/wasigate/router"
)

// serveTenantConfig serves the configuration text (relative paths against
// dir); edit may adjust the build options (hooks).
func serveTenantConfig(t testing.TB, dir, text string, edit func(*router.Options)) (*httptest.Server, *logBuffer, *router.Site) {
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
