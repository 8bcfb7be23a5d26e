package router

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
)

// WSGIExt is the extension of a WSGI application file (mod_wsgi's
// convention): the Python interpreter (the [[interpreter]] of ".py")
// serves it, and its callable is DefaultWSGICallable.
const WSGIExt = ".wsgi"

// DefaultWSGICallable is the name mod_wsgi looks up in a .wsgi file.
const DefaultWSGICallable = "application"

// pythonExt is the interpreter that serves WSGI applications.
const pythonExt = ".py"

// wsgiSpec splits a route's wsgi key, "file.py:name".
func wsgiSpec(s string) (file, name string, ok bool) {
	file, name, ok = strings.Cut(s, ":")
	return file, name, ok
}

// normalizeApps turns each route that is one WSGI application (module =
// "dir/app.wsgi", or wsgi = "dir/app.py:name" without module or scripts)
// into a scripts route on the file's folder that serves that one entry.
// The init of its snapshot sees the folder read-only, like a scripts
// route's, and the application imports its siblings from it.
func (c *Config) normalizeApps() {
	for _, r := range c.AllRoutes() {
		if r.Scripts != "" || r.app != "" {
			continue
		}
		switch file, name, _ := wsgiSpec(r.WSGI); {
		case r.Module != "" && filepath.Ext(r.Module) == WSGIExt && r.WSGI == "":
			r.Scripts, r.app, r.Module = filepath.Dir(r.Module), filepath.Base(r.Module), ""
		case r.Module == "" && r.WSGI != "" && file != "":
			r.Scripts, r.app = filepath.Dir(file), filepath.Base(file)
			r.WSGI = r.app + ":" + name
		}
	}
}

// wsgiProblems returns what is wrong with a route's wsgi and warmup keys.
func (r *Route) wsgiProblems() []string {
	var bad []string
	if r.WSGI != "" {
		file, name, ok := wsgiSpec(r.WSGI)
		switch {
		case r.Scripts == "":
			bad = append(bad, fmt.Sprintf("wsgi %q applies to a scripts route, or alone (without module) to serve one application: wsgi = \"dir/app.py:name\"", r.WSGI))
		case !ok || !isIdentifier(name):
			bad = append(bad, fmt.Sprintf("wsgi %q must be FILE.py:CALLABLE (a Python identifier after the colon)", r.WSGI))
		case filepath.Ext(file) != pythonExt || strings.ContainsAny(file, "/\\") || strings.HasPrefix(file, "."):
			bad = append(bad, fmt.Sprintf("wsgi %q: the file must be a .py file of the scripts folder itself", r.WSGI))
		}
	}
	if len(r.Warmup) > 0 && r.Scripts == "" {
		bad = append(bad, "warmup applies to a scripts route serving WSGI applications")
	}
	for _, w := range r.Warmup {
		if !strings.HasPrefix(w, "/") || strings.IndexFunc(w, func(c rune) bool { return c <= ' ' || c == 0x7f }) >= 0 {
			bad = append(bad, fmt.Sprintf("warmup %q must be a path starting with / (no spaces or control characters)", w))
		}
	}
	return bad
}

func isIdentifier(s string) bool {
	for i, c := range s {
		if !(c == '_' || unicode.IsLetter(c) || (i > 0 && unicode.IsDigit(c))) {
			return false
		}
	}
	return s != ""
}
