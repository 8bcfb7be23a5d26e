// Command app is an ordinary Go net/http application, routed with chi,
// served over CGI with the standard library's net/http/cgi. It is the Go
// counterpart of running a web framework behind a CGI gateway: the handler
// code is the same as for a long-running server, only main differs.
//
// The host mounts it at SCRIPT_NAME (e.g. /app) and passes the rest of the
// path in PATH_INFO. net/http/cgi builds r.URL from REQUEST_URI, i.e. the
// full path, so the router is wrapped in http.StripPrefix(SCRIPT_NAME) and
// its routes are written relative to the mount point.
package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cgi"
	"os"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
)

// base is the mount point (SCRIPT_NAME); links in pages must include it. It
// is read in main, not in the variable's initialiser: wasigate serves Go
// programs from a snapshot taken after their init
// (wasi/README.md#snapshots), where the environment is empty. One that
// reads it at init is built without a snapshot.
var base string

func main() {
	base = os.Getenv("SCRIPT_NAME")
	r := chi.NewRouter()
	r.Get("/", index)
	r.Get("/hello/{name}", hello)
	r.Get("/json", jsonInfo)
	r.Post("/echo", echo)
	r.Get("/cookies", cookies)

	// One request per process: Serve reads it from the environment and
	// stdin, runs the handler and writes the CGI response to stdout.
	if err := cgi.Serve(http.StripPrefix(base, r)); err != nil {
		fmt.Fprintln(os.Stderr, "app: not running under a CGI host:", err)
		os.Exit(1)
	}
}

func index(w http.ResponseWriter, r *http.Request) {
	b := html.EscapeString(base)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>chi over CGI</title></head>
<body>
<h1>A chi app over CGI</h1>
<p>Mounted at <code>%[1]s</code>; this page is the route <code>/</code>.</p>
<ul>
<li><a href="%[1]s/hello/gopher">%[1]s/hello/gopher</a> &mdash; a route parameter</li>
<li><a href="%[1]s/json">%[1]s/json</a> &mdash; a JSON response</li>
<li><a href="%[1]s/cookies">%[1]s/cookies</a> &mdash; two Set-Cookie headers; reload to see them come back</li>
<li><a href="%[1]s/nowhere">%[1]s/nowhere</a> &mdash; chi's 404</li>
</ul>
<form method="post" action="%[1]s/echo">
<p><textarea name="text" rows="3" cols="40">POST me to /echo</textarea></p>
<p><button>POST to /echo</button></p>
</form>
</body></html>
`, b)
}

func hello(w http.ResponseWriter, r *http.Request) {
	// Plain text, so the name needs no HTML escaping.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Hello, %s!\n", chi.URLParam(r, "name"))
}

func jsonInfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"time":    time.Now().UTC().Format(time.RFC3339Nano),
		"headers": len(r.Header), // HTTP_* variables turned back into headers
		"method":  r.Method,
		"path":    r.URL.Path, // relative to the mount, after StripPrefix
	})
}

func echo(w http.ResponseWriter, r *http.Request) {
	// Echo as text/plain whatever was sent: never reflect a client's
	// body back with a type the browser would render as HTML.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	n, err := io.Copy(w, http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		fmt.Fprintf(w, "\n[error after %d bytes: %v]\n", n, err)
	}
}

func cookies(w http.ResponseWriter, r *http.Request) {
	visits := 0
	if c, err := r.Cookie("visits"); err == nil {
		visits, _ = strconv.Atoi(c.Value)
	}
	// Two cookies mean two Set-Cookie header lines in the CGI output,
	// which the host must pass on as two separate HTTP headers.
	path := base + "/"
	http.SetCookie(w, &http.Cookie{Name: "visits", Value: strconv.Itoa(visits + 1), Path: path, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: "flavor", Value: "oatmeal", Path: path, MaxAge: 3600, SameSite: http.SameSiteLaxMode})

	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Set two cookies (visits=%d, flavor=oatmeal). Cookies received:\n", visits+1)
	for _, c := range r.Cookies() {
		fmt.Fprintf(w, "  %s=%s\n", c.Name, c.Value)
	}
	if len(r.Cookies()) == 0 {
		fmt.Fprintln(w, "  (none yet - reload the page)")
	}
}
