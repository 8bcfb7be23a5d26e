package router

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rangeHeader asks for n distinct one-byte ranges: 0-0,2-2,4-4...
func rangeHeader(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%d-%d", 2*i, 2*i)
	}
	return "bytes=" + strings.Join(parts, ",")
}

// TestRangeCap: a Range request of more than MaxRanges ranges gets the
// whole file with 200, as Apache's MaxRanges; up to MaxRanges it is
// answered in parts. For a static file, an X-Sendfile file and a guest,
// which sees no HTTP_RANGE past the cap.
func TestRangeCap(t *testing.T) {
	dir := t.TempDir()
	file := strings.Repeat("0123456789", 2000) // 20000 bytes: 10000 distinct ranges fit
	writeFile(t, filepath.Join(dir, "scripts", "big.txt"), file)
	writeFile(t, filepath.Join(dir, "data", "big.txt"), file)
	writeFile(t, filepath.Join(dir, "data", "send.tpl"), "Content-Type: text/plain\nX-Sendfile: /data/big.txt\n\nguest body\n")
	srv, _ := testSite(t, dir, `
[[route]]
path = "/s/*"
scripts = "scripts"
static = true

[[route]]
path = "/send"
module = `+q(guest("tpl.wasm"))+`
argv = "tpl /data/send.tpl"
volumes = { "/data" = "data" }
sendfile = true

[[route]]
path = "/env"
module = `+q(guest("env.wasm"))+`
`)
	for _, target := range []string{"/s/big.txt", "/send"} {
		for _, c := range []struct {
			ranges, status, parts int
		}{
			{2, 206, 2},
			{MaxRanges, 206, MaxRanges},
			{MaxRanges + 1, 200, 0},
			{9000, 200, 0},
		} {
			t.Run(fmt.Sprintf("%s %d ranges", target, c.ranges), func(t *testing.T) {
				res, body := doRaw(t, "GET", srv.URL, target, "", http.Header{"Range": {rangeHeader(c.ranges)}})
				if res.StatusCode != c.status {
					t.Fatalf("status %d; want %d", res.StatusCode, c.status)
				}
				if c.status == 200 {
					if body != file {
						t.Errorf("body of %d bytes; want the whole file (%d)", len(body), len(file))
					}
					return
				}
				if got := countParts(t, res, body); got != c.parts {
					t.Errorf("%d parts; want %d", got, c.parts)
				}
			})
		}
	}
	for _, c := range []struct {
		ranges int
		want   bool
	}{{2, true}, {MaxRanges, true}, {MaxRanges + 1, false}} {
		res, body := doRaw(t, "GET", srv.URL, "/env", "", http.Header{"Range": {rangeHeader(c.ranges)}})
		got, ok := parseEnv(t, body).env["HTTP_RANGE"]
		if res.StatusCode != 200 || ok != c.want || (ok && got != rangeHeader(c.ranges)) {
			t.Errorf("guest, %d ranges: status %d, HTTP_RANGE present %v; want 200, present %v", c.ranges, res.StatusCode, ok, c.want)
		}
	}
}

// countParts counts the parts of a multipart/byteranges body (one range
// is answered without multipart: 1).
func countParts(t *testing.T, res *http.Response, body string) int {
	t.Helper()
	mt, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		return 1
	}
	mr := multipart.NewReader(strings.NewReader(body), params["boundary"])
	n := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("part %d: %v", n+1, err)
		}
		n++
		p.Close()
	}
}

func TestCountRanges(t *testing.T) {
	cases := []struct {
		vv   []string
		want int
	}{
		{[]string{"bytes=0-1"}, 1},
		{[]string{"bytes=0-1, 3-4,,, 7-"}, 3},
		{[]string{"bytes=0-1", "bytes=2-3,4-5"}, 3},
		{[]string{"bytes="}, 0},
		{[]string{rangeHeader(5000)}, MaxRanges + 1}, // counting stops past the cap
	}
	for _, c := range cases {
		if got := countRanges(c.vv); got != c.want {
			t.Errorf("countRanges(%.40q) = %d; want %d", c.vv, got, c.want)
		}
	}
}

// TestHTTP2HostAuthority: over real HTTP/2 (TLS, as wasigate serves it),
// a request whose host header differs from its :authority is malformed
// (RFC 9113 section 8.3.1) and gets 400 with one log event; one whose
// host equals :authority, or that has none, is served by the tenant of
// :authority, and the guest sees that same value as HTTP_HOST.
func TestHTTP2HostAuthority(t *testing.T) {
	logs := &logBuffer{}
	cfg, site := buildSite(t, "", `
[[route]]
path = "/e"
module = "env.wasm"
env = { SITE = "default" }

[[tenant]]
name = "a"
hosts = ["a.test"]
env = { SITE = "a" }
[[tenant.route]]
path = "/e"
module = "env.wasm"

[[tenant]]
name = "b"
hosts = ["b.test"]
env = { SITE = "b" }
[[tenant.route]]
path = "/e"
module = "env.wasm"
`, logs, nil)
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = NewServer(cfg.Server, site.Handler)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	cases := []struct {
		name      string
		authority string
		host      []string // host header fields sent besides :authority
		status    int
		site      string // SITE the guest saw
	}{
		{"host differs", "a.test", []string{"b.test"}, 400, ""},
		{"host differs, tenant to default", "a.test", []string{"elsewhere.test"}, 400, ""},
		{"host differs in case only", "a.test", []string{"A.test"}, 200, "a"},
		{"second host differs", "a.test", []string{"a.test", "b.test"}, 400, ""},
		{"host equal", "a.test", []string{"a.test"}, 200, "a"},
		{"no host", "b.test", nil, 200, "b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := h2Get(t, addr, c.authority, "/e", c.host)
			if status != c.status {
				t.Fatalf("status %d; want %d (body %q)", status, c.status, body)
			}
			if c.status != 200 {
				return
			}
			env := parseEnv(t, body).env
			if env["SITE"] != c.site || env["HTTP_HOST"] != c.authority || env["SERVER_NAME"] != c.authority {
				t.Errorf("guest saw SITE=%q HTTP_HOST=%q SERVER_NAME=%q; want %q and %q twice", env["SITE"], env["HTTP_HOST"], env["SERVER_NAME"], c.site, c.authority)
			}
		})
	}
	n := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"reason":"host"`) && strings.Contains(line, `"status":400`) {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d log events with reason host and status 400; want 3:\n%s", n, logs)
	}
}

// h2Get sends one GET over a fresh HTTP/2 connection to addr (TLS, ALPN
// h2) and returns the status and body. It writes its frames itself: Go's
// client sends :authority only and never a host field beside it. Header
// fields go out as HPACK literals (RFC 7541 section 6.2.2); the status is
// read from HPACK's static table (section 6.1 and appendix A), which is
// how Go's server sends the common ones.
func h2Get(t *testing.T, addr, authority, path string, hosts []string) (int, string) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q; want h2", p)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second)) // fail, never hang
	var block []byte
	field := func(name, value string) {
		block = append(block, 0x00, byte(len(name)))
		block = append(block, name...)
		block = append(block, byte(len(value)))
		block = append(block, value...)
	}
	field(":method", "GET")
	field(":scheme", "https")
	field(":path", path)
	field(":authority", authority)
	for _, h := range hosts {
		field("host", h)
	}
	frame := func(typ, flags byte, stream uint32, payload []byte) []byte {
		f := make([]byte, 9, 9+len(payload))
		f[0], f[1], f[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
		f[3], f[4] = typ, flags
		binary.BigEndian.PutUint32(f[5:], stream)
		return append(f, payload...)
	}
	const (
		typeData, typeHeaders, typeRST, typeSettings, typeGoAway = 0, 1, 3, 4, 7
		flagEndStream, flagAck, flagEndHeaders                   = 1, 1, 4
	)
	out := []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	out = append(out, frame(typeSettings, 0, 0, nil)...)
	out = append(out, frame(typeHeaders, flagEndStream|flagEndHeaders, 1, block)...)
	if _, err := conn.Write(out); err != nil {
		t.Fatal(err)
	}
	status := 0
	var body []byte
	for {
		var hdr [9]byte
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			t.Fatalf("reading a frame: %v (status %d so far)", err, status)
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		typ, flags, stream := hdr[3], hdr[4], binary.BigEndian.Uint32(hdr[5:])&0x7fffffff
		payload := make([]byte, n)
		if _, err := io.ReadFull(conn, payload); err != nil {
			t.Fatal(err)
		}
		switch {
		case typ == typeSettings && flags&flagAck == 0:
			if _, err := conn.Write(frame(typeSettings, flagAck, 0, nil)); err != nil {
				t.Fatal(err)
			}
		case typ == typeGoAway, typ == typeRST && stream == 1:
			t.Fatalf("frame type %d from the server: % x", typ, payload)
		case typ == typeHeaders && stream == 1:
			statuses := map[byte]int{0x88: 200, 0x89: 204, 0x8a: 206, 0x8b: 304, 0x8c: 400, 0x8d: 404, 0x8e: 500}
			if status = statuses[payload[0]]; status == 0 {
				t.Fatalf("status field % x: not one of HPACK's static statuses", payload[:min(len(payload), 8)])
			}
			if flags&flagEndStream != 0 {
				return status, string(body)
			}
		case typ == typeData && stream == 1:
			body = append(body, payload...)
			if flags&flagEndStream != 0 {
				return status, string(body)
			}
		}
	}
}
