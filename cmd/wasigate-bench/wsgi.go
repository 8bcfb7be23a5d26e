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
// interpreter's snapshot, as a CGI script under fork+exec of native
// python3, and, where Debian's Apache is installed, under Apache 2.4 with
// mod_wsgi in daemon mode (processes=2 threads=8) and as a CGI script
// under mod_cgid, at 1 and then 8 connections. Django (samples/django) has
// a warm-up; its target renders a template, without the database.
func wsgiBench(ctx context.Context, repo string, o options, w io.Writer) (bool, error) {
	if _, err := os.Stat(filepath.Join(pythonDist(repo), "python.wasm")); err != nil {
		return false, fmt.Errorf("python not installed (bash samples/python/install.sh): %w", err)
	}
	native, err := nativePython3()
	if err != nil {
		return false, err
	}
	scripts := filepath.Join(repo, "samples", "scripts")
	djangoDir := filepath.Join(repo, "samples", "django")
	data, err := os.MkdirTemp("", "wasigate-bench-django")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(data)
	prog := newProgress(o.progress, "wsgi", 0)
	prog.note("building the site (the first run compiles the interpreter's snapshots for minutes)")
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
`, djangoDir, data, filepath.Join(pythonDist(repo), "zoneinfo")))
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
	dirOf := func(route string) string {
		if route == "/d/" {
			return djangoDir
		}
		return scripts
	}
	var ap *apache
	noApache := apacheMissing()
	if noApache == "" {
		var list []apacheApp
		for _, a := range apps {
			list = append(list, apacheApp{file: filepath.Join(dirOf(a.route), a.wsgi), dir: dirOf(a.route)},
				apacheApp{file: filepath.Join(dirOf(a.route), a.script), dir: dirOf(a.route)})
		}
		prog.note("starting Apache 2.4 (mod_wsgi daemon mode, mod_cgid)")
		if ap, err = startApache(ctx, list); err != nil {
			return false, err
		}
		defer ap.stop()
	} else {
		fmt.Fprintf(w, "WSGI: Apache rows left out: %s\n\n", noApache)
	}
	// idx[app][way] is the target's index, -1 where the way is not run.
	const (
		wayWSGI = iota
		wayCGI
		wayNative
		wayModWSGI
		wayModCGI
		ways
	)
	idx := make([][ways]int, len(apps))
	var targets []target
	add := func(app, way int, t target) {
		idx[app][way] = len(targets)
		targets = append(targets, t)
	}
	for i, a := range apps {
		idx[i] = [ways]int{-1, -1, -1, -1, -1}
		n, err := serve(&cgi.Handler{Path: native, Args: []string{filepath.Join(dirOf(a.route), a.script)}, Root: "/",
			Env: []string{"PYTHONPATH=" + filepath.Join(pythonDist(repo), "site-packages"), "PYTHONDONTWRITEBYTECODE=1",
				"DJSITE_DB=" + filepath.Join(data, "native.sqlite3")}})
		if err != nil {
			return false, err
		}
		defer n.close()
		// The first request loads the application (its snapshot compiles
		// for seconds); check waits for it before any load.
		prog.note("loading %s", a.wsgi)
		if err := waitLoaded(wg.url+a.route+a.wsgi+"/x", a.want); err != nil {
			return false, fmt.Errorf("%s: %w", a.wsgi, err)
		}
		add(i, wayWSGI, target{name: "wasigate " + a.wsgi, url: wg.url + a.route + a.wsgi + "/x", want: a.want})
		add(i, wayCGI, target{name: "  " + a.script + " as CGI", url: wg.url + a.route + a.script + "/x", want: a.want})
		add(i, wayNative, target{name: "  " + a.script + " fork+exec python3", url: n.url + "/x", want: a.want})
		if ap != nil {
			add(i, wayModWSGI, target{name: "  Apache mod_wsgi daemon " + a.wsgi, url: ap.url + "/w/" + a.wsgi + "/x", want: a.want, cpu: ap.cpu})
			add(i, wayModCGI, target{name: "  Apache mod_cgid " + a.script, url: ap.url + "/cgi/" + a.script + "/x", want: a.want, cpu: ap.cpu})
		}
	}
	if err := warmUp(ctx, o, targets, prog); err != nil {
		return false, err
	}
	ok := true
	for _, conns := range []int{1, 8} {
		p := o
		p.wrk.conns, p.wrk.threads = conns, min(p.wrk.threads, conns)
		results, err := loadTargets(ctx, p, w, fmt.Sprintf("WSGI applications, %d connection(s)", conns), targets)
		if err != nil {
			return false, err
		}
		ratio := func(app, way int) float64 {
			if idx[app][way] < 0 {
				return 0
			}
			return roundRatio(results, idx[app][wayWSGI], idx[app][way])
		}
		at8 := func(v float64, want float64) bool { return conns != 8 || v >= want }
		goals := []goal{
			{"W0. hello.wsgi / wsgi.py as CGI", ratio(0, wayCGI), "(reported)", true},
			{"W1. webpy.wsgi / webpy_app.py as CGI", ratio(1, wayCGI), "(reported)", true},
			{"W2. flask.wsgi / flask_app.py as CGI", ratio(2, wayCGI), ">= 8 at 8 connections", at8(ratio(2, wayCGI), 8)},
			{"W3. bottle.wsgi / bottle_app.py as CGI", ratio(3, wayCGI), "(reported)", true},
			{"W4. flask.wsgi / native fork+exec CGI", ratio(2, wayNative), "(reported)", true},
			{"W5. django.wsgi / django_cgi.py as CGI", ratio(4, wayCGI), "(reported)", true},
			{"W6. django.wsgi / native fork+exec CGI", ratio(4, wayNative), ">= 5 at 8 connections", at8(ratio(4, wayNative), 5)},
		}
		if ap != nil {
			goals = append(goals,
				goal{"W7. flask.wsgi / mod_wsgi daemon", ratio(2, wayModWSGI), ">= 0.125 at 8 connections", at8(ratio(2, wayModWSGI), 0.125)},
				goal{"W8. hello.wsgi / mod_wsgi daemon", ratio(0, wayModWSGI), ">= 0.20 at 8 connections", at8(ratio(0, wayModWSGI), 0.2)},
				goal{"W9. webpy.wsgi / mod_wsgi daemon", ratio(1, wayModWSGI), "(reported)", true},
				goal{"W10. bottle.wsgi / mod_wsgi daemon", ratio(3, wayModWSGI), "(reported)", true},
				goal{"W11. django.wsgi / mod_wsgi daemon", ratio(4, wayModWSGI), "(reported)", true},
				goal{"W12. django.wsgi / Apache mod_cgid", ratio(4, wayModCGI), "(reported)", true},
			)
		}
		ok = printGoals(w, goals) && ok
	}
	return ok, nil
}

// warmUp times one request of every target alone (its probe) and loads it
// for a second, so that lazy work on first use (mod_wsgi's second
// process, a framework's caches) is out of the measured runs.
func warmUp(ctx context.Context, o options, targets []target, prog *progress) error {
	p := o.wrk
	p.conns, p.threads, p.duration = 8, min(p.threads, 8), time.Second
	prog.note("warming up %d targets for 1s each", len(targets))
	for i, t := range targets {
		start := time.Now()
		if err := check(t.url, t.want); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		targets[i].probe = time.Since(start)
		if _, err := runWrk(ctx, p, t.url); err != nil {
			return err
		}
	}
	return nil
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
