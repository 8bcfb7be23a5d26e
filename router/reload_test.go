package router

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The Reloader's behaviour on the fake loader: which module serves after a
// reload, what a rejected reload keeps, what a replaced site releases. The
// end-to-end versions (router/e2e/reload_test.go) do the same with real
// modules compiled by wazero.

// replaceFile writes data to path the way a deploy does: a new file
// renamed over the old one.
func replaceFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// fakeReload is a site served through a Reloader on the fake loader.
type fakeReload struct {
	dir     string
	rl      *Reloader
	srv     *httptest.Server
	logs    *logBuffer
	retired chan *Site
	loader  *fakeLoader
}

// reloadSite writes the configuration to a new folder with app.wasm, a
// fake guest answering "hello", loads it through a Reloader and serves the
// Live handler over real HTTP.
func reloadSite(t testing.TB, config string) *fakeReload {
	t.Helper()
	f := &fakeReload{dir: t.TempDir(), logs: &logBuffer{}, retired: make(chan *Site, 100), loader: &fakeLoader{}}
	replaceFile(t, filepath.Join(f.dir, "app.wasm"), []byte(fakeGuestText(writes("hello\n"))))
	if err := os.WriteFile(filepath.Join(f.dir, "wasigate.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	live := &Live{Retired: func(s *Site, _ time.Duration) { f.retired <- s }}
	f.rl = &Reloader{
		Path:    filepath.Join(f.dir, "wasigate.toml"),
		Options: Options{Loader: f.loader, Log: zerolog.New(f.logs)},
		Live:    live,
	}
	if err := f.rl.Reload(context.Background(), "start"); err != nil {
		t.Fatalf("first load: %v", err)
	}
	f.srv = httptest.NewServer(live)
	t.Cleanup(f.srv.Close)
	return f
}

// waitRetired waits for the replaced site to drain and close.
func (f *fakeReload) waitRetired(t testing.TB) *Site {
	t.Helper()
	select {
	case s := <-f.retired:
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("the old site was not retired")
		return nil
	}
}

const appConfig = `
[[route]]
path = "/hello"
module = "app.wasm"
`

// TestReloadUnderLoad replaces a module while clients keep sending
// requests: no request fails, every request sent after the reload returned
// is answered by the new module, the old site is retired and its module
// closed.
func TestReloadUnderLoad(t *testing.T) {
	f := reloadSite(t, appConfig)
	openBefore := f.loader.open.Load()

	const workers, perWorker = 4, 50
	deadline := time.Now().Add(10 * time.Second)
	var (
		sent, failed, oldAfter atomic.Int64
		reloaded               atomic.Bool
		mu                     sync.Mutex
		failures               []string
	)
	newAfter := make([]atomic.Int64, workers)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for newAfter[w].Load() < perWorker && time.Now().Before(deadline) {
				after := reloaded.Load()
				sent.Add(1)
				res, err := client.Get(f.srv.URL + "/hello")
				var body []byte
				if err == nil {
					body, err = io.ReadAll(res.Body)
					res.Body.Close()
				}
				switch {
				case err != nil || res.StatusCode != 200 || (string(body) != "hello\n" && string(body) != "HELLO\n"):
					failed.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%v %v %q", err, res, body))
					mu.Unlock()
				case string(body) == "HELLO\n" && after:
					newAfter[w].Add(1)
				case string(body) == "hello\n" && after:
					oldAfter.Add(1)
				}
			}
		}()
	}
	for sent.Load() < 100 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	replaceFile(t, filepath.Join(f.dir, "app.wasm"), []byte(fakeGuestText(writes("HELLO\n"))))
	if err := f.rl.Reload(context.Background(), "test"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	reloaded.Store(true)
	wg.Wait()

	if n := failed.Load(); n != 0 {
		t.Errorf("got %d of %d requests failed; want 0. First: %v", n, sent.Load(), failures[:min(len(failures), 5)])
	}
	if n := oldAfter.Load(); n != 0 {
		t.Errorf("got %d requests sent after the reload answered by the old module; want 0", n)
	}
	for i := range newAfter {
		if got := newAfter[i].Load(); got < perWorker {
			t.Errorf("worker %d: got %d answers of the new module after the reload; want %d", i, got, perWorker)
		}
	}
	if old := f.waitRetired(t); old == f.rl.Live.Site() {
		t.Errorf("the retired site is the one serving")
	}
	if got := f.loader.open.Load(); got != openBefore {
		t.Errorf("got %d open modules after the reload; want %d (the old one closed, the new one open)", got, openBefore)
	}
	if !strings.Contains(f.logs.String(), `"trigger":"test"`) || !strings.Contains(f.logs.String(), `"message":"site ready"`) {
		t.Errorf("no reload event in the log:\n%s", f.logs)
	}
}

// TestReloadRejected: a broken configuration or module is rejected with a
// reason naming the file and the route; the old site keeps serving and
// nothing loaded for the rejected one stays open.
func TestReloadRejected(t *testing.T) {
	tests := []struct {
		name   string
		config string            // "" keeps appConfig
		files  map[string][]byte // written into the folder
		want   []string          // in the error and the log
	}{
		{"module not wasm", "", map[string][]byte{"app.wasm": []byte("not wasm")},
			[]string{"wasigate.toml", `route #1 "/hello"`, "app.wasm", "not a module"}},
		{"module refused by the loader", "", map[string][]byte{"app.wasm": []byte(fakeGuestText(`refuse "invalid magic number"`))},
			[]string{"wasigate.toml", `route #1 "/hello"`, "app.wasm", "invalid magic number"}},
		{"module missing", appConfig + "[[route]]\npath = \"/two\"\nmodule = \"missing.wasm\"\n", nil,
			[]string{"wasigate.toml", `route #2 "/two"`, "missing.wasm"}},
		{"config syntax", "[[route]\npath = 1", nil,
			[]string{"wasigate.toml"}},
		{"config invalid", "[[route]]\npath = \"nope\"\nmodule = \"app.wasm\"\n", nil,
			[]string{"wasigate.toml", `route #1 "nope"`, "path must start with /"}},
		{"tenant module broken", appConfig + `
[[tenant]]
name = "acme"
hosts = ["acme.example"]
[[tenant.route]]
path = "/x"
module = "bad.wasm"
`, map[string][]byte{"bad.wasm": {0, 'a', 's', 'm', 1, 0, 0, 0, 99}},
			[]string{"wasigate.toml", `tenant "acme" route #1 "/x"`, "bad.wasm"}},
		{"one good module and one broken", appConfig + "[[route]]\npath = \"/two\"\nmodule = \"two.wasm\"\n[[route]]\npath = \"/bad\"\nmodule = \"bad.wasm\"\n",
			map[string][]byte{"two.wasm": []byte(fakeGuestText(writes("two\n"))), "bad.wasm": []byte("junk")},
			[]string{"wasigate.toml", `route #3 "/bad"`, "bad.wasm"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := reloadSite(t, appConfig)
			openBefore := f.loader.open.Load()
			for name, data := range tc.files {
				replaceFile(t, filepath.Join(f.dir, name), data)
			}
			if tc.config != "" {
				replaceFile(t, filepath.Join(f.dir, "wasigate.toml"), []byte(tc.config))
			}
			serving := f.rl.Live.Site()
			err := f.rl.Reload(context.Background(), "test")
			if err == nil {
				t.Fatal("reload accepted; want it rejected")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
				if !strings.Contains(f.logs.String(), strings.ReplaceAll(w, `"`, `\"`)) {
					t.Errorf("log does not contain %q:\n%s", w, f.logs)
				}
			}
			if !strings.Contains(f.logs.String(), "reload rejected; the previous site keeps serving") {
				t.Errorf("no rejection event in the log:\n%s", f.logs)
			}
			if f.rl.Live.Site() != serving {
				t.Errorf("the serving site changed after a rejected reload")
			}
			if got := f.rl.Config(); got == nil || len(got.Routes) != 1 || got.Routes[0].Path != "/hello" {
				t.Errorf("Config() after the rejected reload: got %+v; want the served one (route /hello)", got)
			}
			res, body := get(t, f.srv.URL+"/hello")
			if res.StatusCode != 200 || body != "hello\n" {
				t.Errorf("after the rejected reload: got %d %q; want 200 \"hello\\n\"", res.StatusCode, body)
			}
			if got := f.loader.open.Load(); got != openBefore {
				t.Errorf("got %d open modules after the rejected reload; want %d", got, openBefore)
			}
			select {
			case s := <-f.retired:
				t.Errorf("a site was retired (%p) by a rejected reload", s)
			default:
			}
		})
	}
}

// TestReloadFirstLoadFails: a configuration that fails at start is logged
// as a failed load (there is no previous site), and Live answers 503.
func TestReloadFirstLoadFails(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "wasigate.toml"), []byte(appConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	live := &Live{}
	var loadedErr error
	rl := &Reloader{Path: filepath.Join(dir, "wasigate.toml"), Options: Options{Loader: &fakeLoader{}, Log: zerolog.New(logs)}, Live: live,
		Loaded: func(_ *Site, _ *Config, err error) { loadedErr = err }}
	err := rl.Reload(context.Background(), "start")
	if err == nil || loadedErr != err {
		t.Fatalf("got error %v, Loaded told %v; want app.wasm missing, told to Loaded", err, loadedErr)
	}
	if !strings.Contains(logs.String(), `"message":"site failed to load"`) || strings.Contains(logs.String(), "reload rejected") {
		t.Errorf("got log %s; want \"site failed to load\", not a rejected reload", logs)
	}
	if rl.Config() != nil || live.Site() != nil {
		t.Errorf("got Config %v Site %v; want nil, nil", rl.Config(), live.Site())
	}
	srv := httptest.NewServer(live)
	defer srv.Close()
	if res, _ := get(t, srv.URL+"/hello"); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("got %d; want 503 with no site", res.StatusCode)
	}
}

// TestReloadRestartOnlySettings: a reload that changes a setting only a
// restart applies says so, naming the key and both values, and serves
// the rest of the new configuration.
func TestReloadRestartOnlySettings(t *testing.T) {
	f := reloadSite(t, "listen = \"127.0.0.1:8080\"\n"+appConfig)
	replaceFile(t, filepath.Join(f.dir, "wasigate.toml"), []byte("listen = \"127.0.0.1:9090\"\n"+appConfig+"[[route]]\npath = \"/again\"\nmodule = \"app.wasm\"\n"))
	if err := f.rl.Reload(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	var warned bool
	for _, e := range parseEvents(t, f.logs) {
		if e.str("message") == "changed setting takes effect after a restart" {
			warned = e.str("key") == "listen" && e.str("was") == "127.0.0.1:8080" && e.str("now") == "127.0.0.1:9090"
		}
	}
	if !warned {
		t.Errorf("got no warning naming listen 127.0.0.1:8080 -> 127.0.0.1:9090:\n%s", f.logs)
	}
	if res, body := get(t, f.srv.URL+"/again"); res.StatusCode != 200 || body != "hello\n" {
		t.Errorf("/again: got %d %q; want 200 \"hello\\n\" from the new configuration", res.StatusCode, body)
	}
}

// TestReloadReleasesModules reloads many times, each with a new module:
// each replaced site is retired and its module closed, so that the open
// modules do not grow with the number of reloads.
func TestReloadReleasesModules(t *testing.T) {
	f := reloadSite(t, appConfig)
	openBefore := f.loader.open.Load()
	for i := range 40 {
		word := fmt.Sprintf("version %d\n", i)
		replaceFile(t, filepath.Join(f.dir, "app.wasm"), []byte(fakeGuestText(writes(word))))
		if err := f.rl.Reload(context.Background(), "test"); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		if res, body := get(t, f.srv.URL+"/hello"); res.StatusCode != 200 || body != word {
			t.Fatalf("reload %d: got %d %q; want 200 %q", i, res.StatusCode, body, word)
		}
		f.waitRetired(t)
	}
	if got := f.loader.open.Load(); got != openBefore {
		t.Errorf("got %d open modules after 40 reloads; want %d", got, openBefore)
	}
}
