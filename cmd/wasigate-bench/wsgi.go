package main

import (
	"context"
	"fmt"
	"io"
	"net/http/cgi"
	"os"
	"path/filepath"
	"time"
)

// wsgiBench is -wsgi: each sample application as a .wsgi application from
// its own snapshot, as the same app run as a CGI script from the
// interpreter's snapshot, and as a CGI script under fork+exec of native
// python3, at 1 and then 8 connections. Django (samples/django) has a
// warm-up; its target renders a template, without the database. Apache's mod_wsgi rows are not
// run: they need Debian's apache2 and libapache2-mod-wsgi-py3, which the
// bench does not install.
func wsgiBench(ctx context.Context, repo string, o options, w io.Writer) (bool, error) {
	if _, err := os.Stat(filepath.Join(pythonDist(repo), "python.wasm")); err != nil {
		return false, fmt.Errorf("python not installed (bash samples/python/install.sh): %w", err)
	}
	native, err := nativePython3()
	if err != nil {
		return false, err
	}
	scripts := filepath.Join(repo, "samples", "scripts")
	data, err := os.MkdirTemp("", "wasigate-bench-django")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(data)
	// Django's database on a writable volume, and the time zone data
	// Debian's pytz reads at import (install.sh puts it in dist).
	_, wg, done, err := serveSite(ctx, repo, o, pythonSite(repo, scripts)+fmt.Sprintf(`
[[route]]
path = "/d/*"
scripts = %q
warmup = ["/warm"]
volumes = { "/data" = { path = %q, writable = true }, "/usr/share/zoneinfo" = %q }
concurrency = 128
queue_timeout = "60s"
timeout = "120s"
`, filepath.Join(repo, "samples", "django"), data, filepath.Join(pythonDist(repo), "zoneinfo")))
	if err != nil {
		return false, err
	}
	defer done()
	apps := []struct{ route, wsgi, script, want string }{
		{"/s/", "hello.wsgi", "wsgi.py", "from WSGI"},
		{"/s/", "webpy.wsgi", "webpy_app.py", "from web.py"},
		{"/s/", "flask.wsgi", "flask_app.py", "from Flask"},
		{"/s/", "bottle.wsgi", "bottle_app.py", "from Bottle"},
		{"/d/", "django.wsgi", "django_cgi.py", "from Django"},
	}
	var targets []target
	for _, a := range apps {
		dir := scripts
		if a.route == "/d/" {
			dir = filepath.Join(repo, "samples", "django")
		}
		n, err := serve(&cgi.Handler{Path: native, Args: []string{filepath.Join(dir, a.script)}, Root: "/",
			Env: []string{"PYTHONPATH=" + filepath.Join(pythonDist(repo), "site-packages"), "PYTHONDONTWRITEBYTECODE=1",
				"DJSITE_DB=" + filepath.Join(data, "native.sqlite3")}})
		if err != nil {
			return false, err
		}
		defer n.close()
		// The first request loads the application (its snapshot compiles
		// for seconds); check waits for it before any load.
		if err := waitLoaded(wg.url+a.route+a.wsgi+"/x", a.want); err != nil {
			return false, fmt.Errorf("%s: %w", a.wsgi, err)
		}
		targets = append(targets,
			target{name: "wasigate " + a.wsgi, url: wg.url + a.route + a.wsgi + "/x", want: a.want},
			target{name: "  " + a.script + " as CGI", url: wg.url + a.route + a.script + "/x", want: a.want},
			target{name: "  " + a.script + " fork+exec python3", url: n.url + "/x", want: a.want})
	}
	ok := true
	for _, conns := range []int{1, 8} {
		p := o
		p.wrk.conns, p.wrk.threads = conns, min(p.wrk.threads, conns)
		results, err := loadTargets(ctx, p, w, fmt.Sprintf("WSGI applications, %d connection(s)", conns), targets)
		if err != nil {
			return false, err
		}
		ratio := func(app, other int) float64 { return roundRatio(results, 3*app, 3*app+other) }
		goals := []goal{
			{"W0. hello.wsgi / wsgi.py as CGI", ratio(0, 1), "(reported)", true},
			{"W1. webpy.wsgi / webpy_app.py as CGI", ratio(1, 1), "(reported)", true},
			{"W2. flask.wsgi / flask_app.py as CGI", ratio(2, 1), ">= 8 at 8 connections", conns != 8 || ratio(2, 1) >= 8},
			{"W3. bottle.wsgi / bottle_app.py as CGI", ratio(3, 1), "(reported)", true},
			{"W4. flask.wsgi / native fork+exec CGI", ratio(2, 2), "(reported)", true},
			{"W5. django.wsgi / django_cgi.py as CGI", ratio(4, 1), "(reported)", true},
			{"W6. django.wsgi / native fork+exec CGI", ratio(4, 2), ">= 5 at 8 connections", conns != 8 || ratio(4, 2) >= 5},
		}
		ok = printGoals(w, goals) && ok
	}
	return ok, nil
}

// waitLoaded asks url until it answers with want, up to two minutes.
func waitLoaded(url, want string) error {
	var err error
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err = check(url, want); err == nil {
			return nil
		}
	}
	return err
}
