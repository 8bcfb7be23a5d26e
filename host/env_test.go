package host

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

func TestFullURLTarget(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"origin form", "GET /x?a=1 HTTP/1.1\r\nHost: a.example\r\n\r\n", "http://a.example/x?a=1"},
		{"absolute form", "GET http://a.example/x?a=1 HTTP/1.1\r\nHost: a.example\r\n\r\n", "http://a.example/x?a=1"},
		{"escaped path", "GET /a%20b HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", "http://a.example:8080/a%20b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := readRequest(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := "http://" + r.Host + originTarget(r); got != tt.want {
				t.Errorf("X_FULL_URL = %q; want %q", got, tt.want)
			}
		})
	}
}

func readRequest(raw string) (*http.Request, error) {
	return http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
}

// TestAuthType: AUTH_TYPE is the scheme of a well-formed "scheme
// credentials" value (RFC 3875 section 4.1.1, RFC 9110 section 11.4); a
// lone token is most likely a bare API key, and only with
// pass_authorization, which hands the guest the whole header anyway, is
// it taken for a scheme.
func TestAuthType(t *testing.T) {
	cases := []struct {
		name, auth string
		pass       bool
		want       string
	}{
		{name: "basic", auth: "Basic dTpw", want: "Basic"},
		{name: "bearer", auth: "Bearer abc.def", want: "Bearer"},
		{name: "auth params", auth: `Digest username="u", realm="r"`, want: "Digest"},
		{name: "several spaces", auth: "Bearer   x", want: "Bearer"},
		{name: "lone token", auth: "sk-live-0123456789"},
		{name: "scheme and a space", auth: "Basic "},
		{name: "leading space", auth: " Basic dTpw"},
		{name: "not a token", auth: "Bas/ic dTpw"},
		{name: "empty", auth: ""},
		{name: "lone token passed", auth: "sometoken", pass: true, want: "sometoken"},
		{name: "scheme passed", auth: "Basic dTpw", pass: true, want: "Basic"},
		{name: "not a token passed", auth: "a/b", pass: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := authType(c.auth, c.pass); got != c.want {
				t.Errorf("authType(%q, %v) = %q; want %q", c.auth, c.pass, got, c.want)
			}
		})
	}
}

// TestProxyHeadersHidden: a proxy's credentials and connection never reach
// a guest, with or without pass_authorization (Apache hides
// Proxy-Authorization too).
func TestProxyHeadersHidden(t *testing.T) {
	for _, pass := range []bool{false, true} {
		r, err := readRequest("GET /app HTTP/1.1\r\nHost: h\r\nProxy-Authorization: Basic cDpx\r\nProxy-Connection: keep-alive\r\nX-Kept: 1\r\n\r\n")
		if err != nil {
			t.Fatal(err)
		}
		h := &Handler{Route: "/app", Root: "/app", PassAuthorization: pass}
		env := strings.Join(h.environment(r, h.request(r), 0), "\n")
		if strings.Contains(env, "HTTP_PROXY_") || strings.Contains(env, "cDpx") {
			t.Errorf("pass_authorization=%v: proxy header passed:\n%s", pass, env)
		}
		if !strings.Contains(env, "HTTP_X_KEPT=1") {
			t.Errorf("pass_authorization=%v: HTTP_X_KEPT missing:\n%s", pass, env)
		}
	}
}
