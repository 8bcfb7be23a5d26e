package router

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/wasigate/wasigate/host/seam"
)

// sendfileSite serves tpl.wasm at /send with the volume /data; its script
// answers X-Sendfile: QUERY_STRING and a body of its own.
func sendfileSite(t *testing.T, sendfile bool) (string, *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	data, outside := filepath.Join(dir, "data"), filepath.Join(dir, "outside")
	writeFile(t, filepath.Join(data, "send.tpl"), "Content-Type: text/plain\nX-Sendfile: ${QUERY_STRING}\n\nguest body\n")
	writeFile(t, filepath.Join(data, "file.txt"), "0123456789abcdef\n")
	writeFile(t, filepath.Join(data, "sub", "x"), "x\n")
	writeFile(t, filepath.Join(outside, "secret.txt"), "secret\n")
	for link, target := range map[string]string{"out": filepath.Join(outside, "secret.txt"), "outdir": outside} {
		if err := os.Symlink(target, filepath.Join(data, link)); err != nil {
			t.Fatal(err)
		}
	}
	srv, logs := testSite(t, dir, `
[[route]]
path = "/send"
module = `+q(guest("tpl.wasm"))+`
argv = "tpl /data/send.tpl"
volumes = { "/data" = "data" }
sendfile = `+map[bool]string{true: "true", false: "false"}[sendfile]+`
`)
	return srv.URL, logs
}

// TestSendfile: a guest's X-Sendfile names a file of the route's volume;
// the server drops the header and sends the file with Range and conditional
// requests. A path outside the volumes (.., a link out, an absolute path
// elsewhere, a folder, a missing file) is a 502 with one event, reason
// sendfile, and no file descriptor is left open.
func TestSendfile(t *testing.T) {
	base, logs := sendfileSite(t, true)
	res, body := doRaw(t, "GET", base, "/send?/data/file.txt", "", nil)
	if res.StatusCode != 200 || body != "0123456789abcdef\n" || res.Header.Get("X-Sendfile") != "" || res.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("got %d %q X-Sendfile %q Content-Type %q; want 200, the file, no X-Sendfile, the guest's text/plain",
			res.StatusCode, body, res.Header.Get("X-Sendfile"), res.Header.Get("Content-Type"))
	}
	lm := res.Header.Get("Last-Modified")
	cases := []struct {
		name, target string
		header       http.Header
		status       int
		body         string
	}{
		{"range", "/send?/data/file.txt", http.Header{"Range": {"bytes=2-5"}}, 206, "2345"},
		{"not modified", "/send?/data/file.txt", http.Header{"If-Modified-Since": {lm}}, 304, ""},
		{"dot-dot out of the volume", "/send?/data/../outside/secret.txt", nil, 502, "Bad Gateway\n"},
		{"file link out", "/send?/data/out", nil, 502, "Bad Gateway\n"},
		{"folder link out", "/send?/data/outdir/secret.txt", nil, 502, "Bad Gateway\n"},
		{"outside every volume", "/send?/etc/passwd", nil, 502, "Bad Gateway\n"},
		{"relative path", "/send?data/file.txt", nil, 502, "Bad Gateway\n"},
		{"folder", "/send?/data/sub", nil, 502, "Bad Gateway\n"},
		{"missing", "/send?/data/none", nil, 502, "Bad Gateway\n"},
	}
	before := openFDs(t)
	for round := range 20 {
		for _, c := range cases {
			res, b := doRaw(t, "GET", base, c.target, "", c.header)
			if round > 0 {
				continue
			}
			t.Run(c.name, func(t *testing.T) {
				if res.StatusCode != c.status || b != c.body {
					t.Errorf("got %d %q; want %d %q", res.StatusCode, b, c.status, c.body)
				}
				if c.status != 502 {
					return
				}
				var n int
				for _, ev := range requestEvents(t, logs, res.Header.Get("X-Request-Id")) {
					if ev.str("reason") != "" {
						n++
						if ev.str("reason") != "sendfile" || ev.str("route") != "/send" {
							t.Errorf("got event %v; want reason sendfile on route /send", ev)
						}
					}
				}
				if n != 1 {
					t.Errorf("got %d events with a reason; want 1", n)
				}
			})
		}
	}
	http.DefaultClient.CloseIdleConnections()
	if after := openFDs(t); after > before+4 {
		t.Errorf("got %d open fds after 180 requests; want about %d", after, before)
	}
}

// TestSendfileOff: without sendfile = true the header is the guest's
// own, and its body is sent.
func TestSendfileOff(t *testing.T) {
	base, _ := sendfileSite(t, false)
	res, body := doRaw(t, "GET", base, "/send?/data/file.txt", "", nil)
	if res.StatusCode != 200 || body != "guest body\n" {
		t.Errorf("got %d %q; want 200 %q", res.StatusCode, body, "guest body\n")
	}
}

// FuzzSendfileResolve: whatever path a guest names, the resolver opens a
// file of the volume or fails; never the secret outside it, reached by a
// link or by dot-dots.
func FuzzSendfileResolve(f *testing.F) {
	for _, s := range []string{"/data/file.txt", "/data/../outside/secret.txt", "/data/out", "/data/outdir/secret.txt", "/data/./out", "/data//outdir/../out", "data/file.txt", "/", "/data"} {
		f.Add(s)
	}
	dir := f.TempDir()
	data, outside := filepath.Join(dir, "data"), filepath.Join(dir, "outside")
	for _, d := range []string{data, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	secret := filepath.Join(outside, "secret.txt")
	if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "file.txt"), []byte("ok"), 0o644); err != nil {
		f.Fatal(err)
	}
	for link, target := range map[string]string{"out": secret, "outdir": outside, "up": ".."} {
		if err := os.Symlink(target, filepath.Join(data, link)); err != nil {
			f.Fatal(err)
		}
	}
	resolve, closeRoots, err := sendfileResolver([]seam.Mount{{Guest: "/data", Host: data}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(closeRoots)
	secretInfo, err := os.Stat(secret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p string) {
		file, err := resolve(p)
		if err != nil {
			return
		}
		defer file.Close()
		st, err := file.Stat()
		if err != nil {
			return
		}
		if os.SameFile(st, secretInfo) {
			t.Fatalf("resolve(%q) opened the file outside the volume", p)
		}
	})
}
