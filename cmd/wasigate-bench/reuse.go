package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"os"
	"path/filepath"
)

// reuseBench is -reuse: every sample that warm instances speed up, with
// reuse on (the default) and off (reuse = false, a fresh instance per
// request), side by side with the baselines of the other tables: the
// in-process Go handler, fork+exec of the native program or of native
// python3, and Apache's mod_wsgi daemon where it is installed. Both loads,
// 1 and 8 connections, run in one go so that the 8-connection Python row
// can be set against its own 1-connection row.
func reuseBench(ctx context.Context, repo string, o options, w io.Writer) (bool, error) {
	if _, err := os.Stat(filepath.Join(pythonDist(repo), "python.wasm")); err != nil {
		return false, fmt.Errorf("python not installed (bash samples/python/install.sh): %w", err)
	}
	python, err := nativePython3()
	if err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp("", "wasigate-bench-reuse")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	prog := newProgress(o.progress, "reuse", 0)
	prog.note("building the native programs and the site")
	cBin, goBin, appBin, err := buildNative(ctx, repo, tmp)
	if err != nil {
		return false, err
	}
	scripts := filepath.Join(repo, "samples", "scripts")
	_, wg, done, err := serveSite(ctx, repo, o, pythonSite(repo, scripts)+fmt.Sprintf(`
[[route]]
path = "/r/*"
scripts = %q
reuse = false
concurrency = 128
queue_timeout = "60s"
timeout = "120s"

[[route]]
path = "/c"
module = "samples/c/hello.wasm"

[[route]]
path = "/coff"
module = "samples/c/hello.wasm"
reuse = false

[[route]]
path = "/go"
module = "samples/scripts/hello-go.go"

[[route]]
path = "/gooff"
module = "samples/scripts/hello-go.go"
reuse = false

[[route]]
path = "/app/*"
module = "samples/scripts/app"

[[route]]
path = "/appoff/*"
module = "samples/scripts/app"
reuse = false
`, scripts))
	if err != nil {
		return false, err
	}
	defer done()
	var ap *apache
	if why := apacheMissing(); why == "" {
		prog.note("starting Apache 2.4 (mod_wsgi daemon mode)")
		ap, err = startApache(ctx, []apacheApp{{file: filepath.Join(scripts, "hello.wsgi"), dir: scripts}, {file: filepath.Join(scripts, "flask.wsgi"), dir: scripts}})
		if err != nil {
			return false, err
		}
		defer ap.stop()
	} else {
		fmt.Fprintf(w, "Reuse: mod_wsgi rows left out: %s\n\n", why)
	}
	var targets []target
	at := map[string]int{}
	add := func(key string, t target) {
		at[key] = len(targets)
		targets = append(targets, t)
	}
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.close()
		}
	}()
	local := func(h http.Handler) (string, error) {
		srv, err := serve(h)
		if err != nil {
			return "", err
		}
		servers = append(servers, srv)
		return srv.url, nil
	}
	native := map[string]http.Handler{
		"go handler": http.HandlerFunc(nativeHello),
		"c exec":     cgiHandler(cBin),
		"go exec":    cgiHandler(goBin),
		"app exec":   cgiHandlerAt(appBin, "/app"),
		"py exec": &cgi.Handler{Path: python, Args: []string{filepath.Join(scripts, "hello.py")}, Root: "/",
			Env: []string{"PYTHONDONTWRITEBYTECODE=1"}},
	}
	urls := map[string]string{}
	for k, h := range native {
		if urls[k], err = local(h); err != nil {
			return false, err
		}
	}
	const c, g, app, py = "Hello from C", "Hello from Go", "Hello, x!", "hello from Python"
	add("c on", target{name: "wasigate C, reuse on", url: wg.url + "/c", want: c})
	add("c off", target{name: "  reuse = false", url: wg.url + "/coff", want: c})
	add("go handler", target{name: "  native Go handler, same bytes", url: urls["go handler"], want: c})
	add("c exec", target{name: "  net/http/cgi fork+exec C (gcc -O2)", url: urls["c exec"], want: c})
	add("go on", target{name: "wasigate Go hello, reuse on", url: wg.url + "/go", want: g})
	add("go off", target{name: "  reuse = false", url: wg.url + "/gooff", want: g})
	add("go exec", target{name: "  net/http/cgi fork+exec Go (go build)", url: urls["go exec"], want: g})
	add("app on", target{name: "wasigate Go chi app, reuse on", url: wg.url + "/app/hello/x", want: app})
	add("app off", target{name: "  reuse = false", url: wg.url + "/appoff/hello/x", want: app})
	add("app exec", target{name: "  net/http/cgi fork+exec Go app", url: urls["app exec"] + "/app/hello/x", want: app})
	add("py on", target{name: "wasigate hello.py, reuse on", url: wg.url + "/s/hello.py", want: py})
	add("py off", target{name: "  reuse = false", url: wg.url + "/r/hello.py", want: py})
	add("py exec", target{name: "  net/http/cgi fork+exec python3", url: urls["py exec"], want: py})
	for _, a := range []struct{ key, file, want string }{{"hello", "hello.wsgi", "from WSGI"}, {"flask", "flask.wsgi", "from Flask"}} {
		prog.note("loading %s", a.file)
		for _, route := range []string{"/s/", "/r/"} {
			if err := waitLoaded(wg.url+route+a.file+"/x", a.want); err != nil {
				return false, fmt.Errorf("%s: %w", a.file, err)
			}
		}
		add(a.key+" on", target{name: "wasigate " + a.file + ", reuse on", url: wg.url + "/s/" + a.file + "/x", want: a.want})
		add(a.key+" off", target{name: "  reuse = false", url: wg.url + "/r/" + a.file + "/x", want: a.want})
		if ap != nil {
			add(a.key+" mod_wsgi", target{name: "  Apache mod_wsgi daemon", url: ap.url + "/w/" + a.file + "/x", want: a.want, cpu: ap.cpu})
		}
	}
	if err := warmUp(ctx, o, targets, prog); err != nil {
		return false, err
	}
	byConns := map[int][][]load{}
	ok := true
	for _, conns := range []int{1, 8} {
		p := o
		p.wrk.conns, p.wrk.threads = conns, min(p.wrk.threads, conns)
		results, err := loadTargets(ctx, p, w, fmt.Sprintf("Warm instances, %d connection(s)", conns), targets)
		if err != nil {
			return false, err
		}
		byConns[conns] = results
		r := func(a, b string) float64 {
			ia, okA := at[a]
			ib, okB := at[b]
			if !okA || !okB {
				return 0
			}
			return roundRatio(results, ia, ib)
		}
		at8 := func(v, want float64) bool { return conns != 8 || v >= want }
		goals := []goal{
			{"R1. C reuse on / native Go handler", r("c on", "go handler"), ">= 0.6", r("c on", "go handler") >= 0.6},
			{"R2. Go hello reuse on / fork+exec Go", r("go on", "go exec"), ">= 3", r("go on", "go exec") >= 3},
			{"R3. hello.py reuse on / fork+exec python3", r("py on", "py exec"), ">= 6 at 8 connections", at8(r("py on", "py exec"), 6)},
			{"R4. C reuse on / off", r("c on", "c off"), "(reported)", true},
			{"R5. Go hello reuse on / off", r("go on", "go off"), "(reported)", true},
			{"R6. Go chi app reuse on / off", r("app on", "app off"), "(reported)", true},
			{"R7. Go chi app reuse on / fork+exec", r("app on", "app exec"), "(reported)", true},
			{"R8. hello.py reuse on / off", r("py on", "py off"), "(reported)", true},
			{"R9. hello.wsgi reuse on / off", r("hello on", "hello off"), "(reported)", true},
			{"R10. flask.wsgi reuse on / off", r("flask on", "flask off"), "(reported)", true},
		}
		if ap != nil {
			goals = append(goals,
				goal{"R11. hello.wsgi reuse on / mod_wsgi daemon", r("hello on", "hello mod_wsgi"), ">= 0.33 at 8 connections", at8(r("hello on", "hello mod_wsgi"), 1.0/3)},
				goal{"R12. flask.wsgi reuse on / mod_wsgi daemon", r("flask on", "flask mod_wsgi"), ">= 0.125 at 8 connections", at8(r("flask on", "flask mod_wsgi"), 0.125)})
		}
		ok = printGoals(w, goals) && ok
	}
	// Two cores used: hello.py at 8 connections against 1, round by round.
	var rs []float64
	one, eight := byConns[1][at["py on"]], byConns[8][at["py on"]]
	for i := range min(len(one), len(eight)) {
		rs = append(rs, eight[i].reqs/one[i].reqs)
	}
	v := medianOf(rs)
	return printGoals(w, []goal{{"R13. hello.py reuse on, 8 connections / 1", v, ">= 1.7", v >= 1.7}}) && ok, nil
}
