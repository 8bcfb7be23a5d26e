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
	"unsafe"
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
	var env envBuilder
	env.grow(r)

	env.add("GATEWAY_INTERFACE", "CGI/1.1") // 4.1.4
	env.add("SERVER_SOFTWARE", "wasigate/", Version)
	env.add("SERVER_PROTOCOL", r.Proto)
	env.add("REQUEST_METHOD", r.Method)
	env.add("REQUEST_URI", r.RequestURI)
	env.add("QUERY_STRING", r.URL.RawQuery) // 4.1.7: "" when there is none
	env.add("SCRIPT_NAME", req.scriptName)
	env.add("PATH_INFO", req.pathInfo)
	// 4.1.6: a server SHOULD set PATH_TRANSLATED when PATH_INFO is not
	// empty. Where the route mounts a volume at / the path maps to a file
	// the script can see; elsewhere it is PATH_INFO itself, as WAGI sets it
	// (so WAGI's modules run unchanged), since the guest's file system is
	// rooted at /.
	if req.pathInfo != "" {
		if h.DocumentRoot != "" {
			env.add("PATH_TRANSLATED", path.Join(h.DocumentRoot, req.pathInfo))
		} else {
			env.add("PATH_TRANSLATED", req.pathInfo)
		}
	}

	serverName, serverPort := serverAddr(r)
	env.add("SERVER_NAME", serverName)
	env.add("SERVER_PORT", serverPort)

	// 4.1.8-4.1.10. REMOTE_HOST is the address: wasigate never does DNS.
	if host, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		env.add("REMOTE_ADDR", host)
		env.add("REMOTE_HOST", host)
		env.add("REMOTE_PORT", port)
	} else {
		env.add("REMOTE_ADDR", r.RemoteAddr)
		env.add("REMOTE_HOST", r.RemoteAddr)
	}

	if r.TLS != nil {
		env.add("HTTPS", "on")
	}
	if scheme := authType(r.Header.Get("Authorization"), h.PassAuthorization); scheme != "" {
		env.add("AUTH_TYPE", scheme)
	}
	// 4.1.2, 4.1.3: only for a request with a body.
	if contentLength > 0 || (contentLength < 0 && r.Body != nil && r.Body != http.NoBody) {
		if contentLength >= 0 {
			env.start("CONTENT_LENGTH")
			env.b = strconv.AppendInt(env.b, contentLength, 10)
			env.end()
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			env.add("CONTENT_TYPE", ct)
		}
	}

	// WAGI's extras.
	env.add("X_MATCHED_ROUTE", req.route)
	env.add("X_RAW_PATH_INFO", req.rawPath)
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	env.add("X_FULL_URL", scheme, r.Host, originTarget(r))

	// 4.1.18: protocol meta-variables. net/http moves Host out of
	// r.Header, so HTTP_HOST is set from r.Host, as net/http/cgi does.
	if r.Host != "" {
		env.add("HTTP_HOST", r.Host)
	}
	for k, vv := range r.Header {
		switch k {
		case "Content-Length", "Content-Type":
			continue // already CONTENT_LENGTH and CONTENT_TYPE
		case "Proxy":
			// httpoxy (CVE-2016-5385): HTTP_PROXY would be read as a proxy
			// setting by many HTTP clients inside the script.
			continue
		case "Proxy-Authorization", "Proxy-Connection":
			// A proxy's credentials and connection, never the origin's
			// business (Apache hides Proxy-Authorization too), whatever
			// pass_authorization says.
			continue
		case "Authorization":
			if !h.PassAuthorization {
				continue
			}
		}
		if !metaNameOK(k) {
			// Like Apache since 2.4: a header whose name maps onto the same
			// variable as another (X_Foo vs X-Foo) is dropped, not guessed.
			continue
		}
		sep := ", "
		if k == "Cookie" {
			sep = "; " // RFC 6265 section 5.4
		}
		env.b = appendMetaName(env.b, k)
		env.b = append(env.b, '=')
		for i, v := range vv {
			if i > 0 {
				env.b = append(env.b, sep...)
			}
			env.b = append(env.b, v...)
		}
		env.end()
	}
	return env.strings(h.Env)
}

// authType returns AUTH_TYPE for an Authorization value (RFC 3875 section
// 4.1.1): its scheme, when the value is a well-formed "scheme credentials"
// (RFC 9110 section 11.4), else "". A value that is one token alone is
// taken for a scheme only when the whole header is passed anyway
// (pass): otherwise it is most likely a bare API key, and AUTH_TYPE would
// hand the credential to the script.
func authType(auth string, pass bool) string {
	scheme, creds, found := strings.Cut(auth, " ")
	if !validName(scheme) {
		return ""
	}
	if !pass && (!found || strings.TrimLeft(creds, " ") == "") {
		return ""
	}
	return scheme
}

// envBuilder writes a request's KEY=value entries one after another into
// one buffer and cuts the strings out of it at the end: one allocation for
// all of them instead of one per variable, which was the largest share of
// the host's allocations per request.
type envBuilder struct {
	b     []byte
	ends  []int
	ends0 [40]int
}

// grow sizes the buffer for r's variables.
func (e *envBuilder) grow(r *http.Request) {
	n := 320 + 2*len(r.RequestURI) + len(r.Host)*3 + len(r.RemoteAddr)*2
	for k, vv := range r.Header {
		for _, v := range vv {
			n += len(k) + len(v) + 8
		}
	}
	e.b = make([]byte, 0, n)
	e.ends = e.ends0[:0]
	if want := 24 + len(r.Header); want > len(e.ends0) {
		e.ends = make([]int, 0, want)
	}
}

func (e *envBuilder) start(k string) {
	e.b = append(e.b, k...)
	e.b = append(e.b, '=')
}

func (e *envBuilder) end() { e.ends = append(e.ends, len(e.b)) }

// add adds k with the value vs joined.
func (e *envBuilder) add(k string, vs ...string) {
	e.start(k)
	for _, v := range vs {
		e.b = append(e.b, v...)
	}
	e.end()
}

// strings returns the entries, then extra.
func (e *envBuilder) strings(extra []string) []string {
	// The buffer is never written again: its bytes can back the strings.
	all := unsafe.String(unsafe.SliceData(e.b), len(e.b))
	env := make([]string, 0, len(e.ends)+len(extra))
	start := 0
	for _, end := range e.ends {
		env = append(env, all[start:end])
		start = end
	}
	return append(env, extra...)
}

// metaNameOK reports whether a header name has only letters, digits and -.
func metaNameOK(header string) bool {
	for i := 0; i < len(header); i++ {
		switch c := header[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
		default:
			return false
		}
	}
	return true
}

// appendMetaName appends HTTP_ + header in upper case with - as _; the
// name must pass metaNameOK.
func appendMetaName(b []byte, header string) []byte {
	b = append(b, "HTTP_"...)
	for i := 0; i < len(header); i++ {
		c := header[i]
		switch {
		case c >= 'a' && c <= 'z':
			b = append(b, c-'a'+'A')
		case c == '-':
			b = append(b, '_')
		default:
			b = append(b, c)
		}
	}
	return b
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

// originTarget is the request target in origin form: an absolute-form
// target (RFC 9112 section 3.2.2) already names the scheme and host, which
// X_FULL_URL adds itself.
func originTarget(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	return r.URL.RequestURI()
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
// name=value pairs, one argument each. The pairs are passed raw, as WAGI
// passes them: no percent-decoding and no + to space, which are RFC 3875
// section 4.4's rules for search words, not for name=value pairs (issue
// 15). Empty pairs (a&&b) give no argument, as in WAGI.
func templateArgs(tmpl, scriptName, rawQuery string) []string {
	var pairs []string
	for _, p := range strings.Split(rawQuery, "&") {
		if p != "" {
			pairs = append(pairs, p)
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

// request works out SCRIPT_NAME and PATH_INFO the way Go's net/http/cgi
// does: Root is the script, the rest of the path is PATH_INFO.
func (h *Handler) request(r *http.Request) request {
	req := request{route: h.Route, scriptName: h.Root}
	if h.MatchedRoute != "" {
		req.route = h.MatchedRoute
	}
	if h.Exact {
		req.scriptName = r.URL.Path
		return req
	}
	root, rawRoot := h.Root, h.Root
	if strings.Contains(root, "{") {
		// A pattern with parameters (/u/{id}/*): the script is as many
		// segments of the path as the pattern has, since a parameter
		// never spans a "/". Counted on the escaped path, where an
		// encoded %2F is not a separator.
		rawRoot = leadingSegments(r.URL.EscapedPath(), strings.Count(root, "/"))
		if d, err := url.PathUnescape(rawRoot); err == nil {
			root = d
		}
		req.scriptName = root
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, root); ok {
		req.pathInfo = rest
	}
	if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), rawRoot); ok {
		req.rawPath = rest
	}
	return req
}

// leadingSegments returns the first n "/"-started segments of p.
func leadingSegments(p string, n int) string {
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			if n == 0 {
				return p[:i]
			}
			n--
		}
	}
	return p
}

// reserved are the meta-variables the host sets or may set (RFC 3875
// section 4.1, and WAGI's X_ extras).
var reserved = map[string]bool{
	"AUTH_TYPE": true, "CONTENT_LENGTH": true, "CONTENT_TYPE": true, "GATEWAY_INTERFACE": true,
	"PATH_INFO": true, "PATH_TRANSLATED": true, "QUERY_STRING": true, "REMOTE_ADDR": true,
	"REMOTE_HOST": true, "REMOTE_IDENT": true, "REMOTE_USER": true, "REMOTE_PORT": true,
	"REQUEST_METHOD": true, "REQUEST_URI": true, "SCRIPT_NAME": true, "SERVER_NAME": true,
	"SERVER_PORT": true, "SERVER_PROTOCOL": true, "SERVER_SOFTWARE": true, "HTTPS": true,
	"X_MATCHED_ROUTE": true, "X_FULL_URL": true, "X_RAW_PATH_INFO": true,
	// Apache's, set for scripts folders, so that scripts written for it
	// run unchanged.
	"DOCUMENT_ROOT": true, "SCRIPT_FILENAME": true,
}

// Reserved reports whether a variable of that name (in any case) is the
// host's to set: a meta-variable or an HTTP_ one. A configuration's env
// may not set it (router checks at startup; the names are held here alone,
// so router keeps no list of its own).
func Reserved(name string) bool {
	up := strings.ToUpper(name)
	return reserved[up] || strings.HasPrefix(up, "HTTP_")
}
