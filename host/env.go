package host

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// Version is reported to guests as SERVER_SOFTWARE=wasigate/Version.
var Version = "0.1.0"

// request describes one request as a CGI program sees it.
type request struct {
	scriptName string
	pathInfo   string
	rawPath    string // PATH_INFO before percent-decoding
	route      string // the matched route pattern
}

// ErrNULInRequest is the error of a request that would put a NUL byte in
// the guest's argv or environment (a %00 in the path or query): WASI
// passes both as NUL-terminated strings, so it cannot be passed on.
var ErrNULInRequest = errors.New("request has a NUL byte (%00) where the script would see it")

// invocation returns the argv and environment of a run for r, or
// ErrNULInRequest.
func (h *Handler) invocation(r *http.Request, req request, contentLength int64) (args, env []string, err error) {
	args = []string{req.scriptName}
	if h.Argv != "" {
		args = templateArgs(h.Argv, req.scriptName, r.URL.RawQuery)
	} else {
		args = append(args, searchArgs(r.URL.RawQuery)...)
	}
	env = h.environment(r, req, contentLength)
	for _, list := range [][]string{args, env} {
		for _, s := range list {
			if strings.IndexByte(s, 0) >= 0 {
				return nil, nil, fmt.Errorf("%w: %q", ErrNULInRequest, s)
			}
		}
	}
	return args, env, nil
}

// environment builds the CGI meta-variables of RFC 3875 section 4.1 for r,
// and nothing of the server's own environment.
func (h *Handler) environment(r *http.Request, req request, contentLength int64) []string {
	env := make([]string, 0, 24+len(r.Header)+len(h.Env))
	add := func(k, v string) { env = append(env, k+"="+v) }

	add("GATEWAY_INTERFACE", "CGI/1.1") // 4.1.4
	add("SERVER_SOFTWARE", "wasigate/"+Version)
	add("SERVER_PROTOCOL", r.Proto)
	add("REQUEST_METHOD", r.Method)
	add("REQUEST_URI", r.RequestURI)
	add("QUERY_STRING", r.URL.RawQuery) // 4.1.7: "" when there is none
	add("SCRIPT_NAME", req.scriptName)
	add("PATH_INFO", req.pathInfo)
	// 4.1.6: PATH_TRANSLATED only means something where the path maps to a
	// file the script can see: the route's document volume.
	if h.DocumentRoot != "" && req.pathInfo != "" {
		add("PATH_TRANSLATED", path.Join(h.DocumentRoot, req.pathInfo))
	}

	serverName, serverPort := serverAddr(r)
	add("SERVER_NAME", serverName)
	add("SERVER_PORT", serverPort)

	// 4.1.8-4.1.10. REMOTE_HOST is the address: wasigate never does DNS.
	if host, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		add("REMOTE_ADDR", host)
		add("REMOTE_HOST", host)
		add("REMOTE_PORT", port)
	} else {
		add("REMOTE_ADDR", r.RemoteAddr)
		add("REMOTE_HOST", r.RemoteAddr)
	}

	if r.TLS != nil {
		add("HTTPS", "on")
	}
	// 4.1.1: the scheme only; credentials stay out unless passed below.
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, _, _ := strings.Cut(auth, " ")
		add("AUTH_TYPE", scheme)
	}
	// 4.1.2, 4.1.3: only for a request with a body.
	if contentLength > 0 || (contentLength < 0 && r.Body != nil && r.Body != http.NoBody) {
		if contentLength >= 0 {
			add("CONTENT_LENGTH", strconv.FormatInt(contentLength, 10))
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			add("CONTENT_TYPE", ct)
		}
	}

	// WAGI's extras.
	add("X_MATCHED_ROUTE", req.route)
	add("X_RAW_PATH_INFO", req.rawPath)
	add("X_FULL_URL", fullURL(r))

	// 4.1.18: protocol meta-variables. net/http moves Host out of
	// r.Header, so HTTP_HOST is set from r.Host, as net/http/cgi does.
	if r.Host != "" {
		add("HTTP_HOST", r.Host)
	}
	for k, vv := range r.Header {
		switch k {
		case "Content-Length", "Content-Type":
			continue // already CONTENT_LENGTH and CONTENT_TYPE
		case "Proxy":
			// httpoxy (CVE-2016-5385): HTTP_PROXY would be read as a proxy
			// setting by many HTTP clients inside the script.
			continue
		case "Authorization":
			if !h.PassAuthorization {
				continue
			}
		}
		name, ok := metaName(k)
		if !ok {
			// Like Apache since 2.4: a header whose name maps onto the same
			// variable as another (X_Foo vs X-Foo) is dropped, not guessed.
			continue
		}
		sep := ", "
		if k == "Cookie" {
			sep = "; " // RFC 6265 section 5.4
		}
		add(name, strings.Join(vv, sep))
	}
	env = append(env, h.Env...)
	return env
}

// metaName returns HTTP_ + the header name in upper case with - as _, or
// false when the name has characters other than letters, digits and -.
func metaName(header string) (string, bool) {
	b := make([]byte, 0, 5+len(header))
	b = append(b, "HTTP_"...)
	for i := 0; i < len(header); i++ {
		c := header[i]
		switch {
		case c >= 'a' && c <= 'z':
			b = append(b, c-'a'+'A')
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b = append(b, c)
		case c == '-':
			b = append(b, '_')
		default:
			return "", false
		}
	}
	return string(b), true
}

// serverAddr returns SERVER_NAME and SERVER_PORT: from the Host header as
// RFC 3875 section 4.1.14 prefers, else from the listener's address.
func serverAddr(r *http.Request) (string, string) {
	defPort := "80"
	if r.TLS != nil {
		defPort = "443"
	}
	if r.Host != "" {
		if host, port, err := net.SplitHostPort(r.Host); err == nil {
			return host, port
		}
		return strings.Trim(r.Host, "[]"), defPort
	}
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if host, port, err := net.SplitHostPort(addr.String()); err == nil {
			return host, port
		}
	}
	return "", defPort
}

func fullURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	target := r.RequestURI
	if !strings.HasPrefix(target, "/") {
		// An absolute-form target (RFC 9112 section 3.2.2) already names
		// the scheme and host; keep only its path and query.
		target = r.URL.RequestURI()
	}
	return scheme + "://" + r.Host + target
}

// searchArgs returns the command-line words of RFC 3875 section 4.4: only
// for a query with no unencoded '=', split on '+', each percent-decoded.
func searchArgs(rawQuery string) []string {
	if rawQuery == "" || strings.Contains(rawQuery, "=") {
		return nil
	}
	var args []string
	for _, w := range strings.Split(rawQuery, "+") {
		if d, err := url.PathUnescape(w); err == nil {
			args = append(args, d)
		} else {
			return nil // 4.4: a word that cannot be decoded means no words
		}
	}
	return args
}

// WAGIArgv is WAGI's default argv template.
const WAGIArgv = "${SCRIPT_NAME} ${ARGS}"

// templateArgs expands a WAGI argv template: words split on spaces,
// ${SCRIPT_NAME} replaced by the script name and ${ARGS} by the query's
// name=value pairs, one argument each.
func templateArgs(tmpl, scriptName, rawQuery string) []string {
	var pairs []string
	if rawQuery != "" {
		for _, p := range strings.Split(rawQuery, "&") {
			if d, err := url.QueryUnescape(p); err == nil {
				pairs = append(pairs, d)
			} else {
				pairs = append(pairs, p)
			}
		}
	}
	var args []string
	for _, w := range strings.Fields(tmpl) {
		if w == "${ARGS}" {
			args = append(args, pairs...)
			continue
		}
		args = append(args, strings.ReplaceAll(w, "${SCRIPT_NAME}", scriptName))
	}
	return args
}
