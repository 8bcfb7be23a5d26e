package router

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Folders, indexes and static files of a scripts route on the fake loader
// (router/e2e/scripts_folder_test.go serves the same with real guests).

// noRedirect is a client that returns redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

// folderSite is a scripts folder with scripts, an index per folder, static
// files, and what must never be served: sources, hidden names, build
// files and links out of the folder.
func folderSite(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	sc := filepath.Join(dir, "scripts")
	tpl := "Content-Type: text/plain\n\n${SCRIPT_NAME}|${SCRIPT_FILENAME}|${DOCUMENT_ROOT}|${PATH_INFO}\n"
	writeFile(t, filepath.Join(sc, "index.tpl"), tpl)
	writeFile(t, filepath.Join(sc, "show.tpl"), tpl)
	writeFile(t, filepath.Join(sc, "blog", "index.tpl"), tpl)
	writeFile(t, filepath.Join(sc, "lib", "helper.tpl"), tpl)
	writeFile(t, filepath.Join(sc, "docs", "index.html"), "<h1>docs</h1>\n")
	writeFile(t, filepath.Join(sc, "style.css"), "body { color: red }\n")
	writeFile(t, filepath.Join(sc, "go.mod"), "module x\n")
	writeFile(t, filepath.Join(sc, ".secret"), "secret\n")
	writeFile(t, filepath.Join(sc, "sub", ".hidden"), "secret\n")
	writeFile(t, filepath.Join(sc, "sub", "ok.txt"), "ok\n")
	outside := filepath.Join(dir, "outside")
	writeFile(t, filepath.Join(outside, "secret.txt"), "secret\n")
	for link, target := range map[string]string{"out": outside, "out.css": filepath.Join(outside, "secret.txt")} {
		if err := os.Symlink(target, filepath.Join(sc, link)); err != nil {
			t.Fatal(err)
		}
	}
	srv, _, _, _ := scriptsSite(t, dir, scriptsConfig(dir, extra))
	return srv.URL
}

// TestScriptsFolders: a folder request runs its index, a folder without
// its slash redirects to it (301, as Apache), scripts see SCRIPT_FILENAME
// and DOCUMENT_ROOT as an interpreter opens them, and static = true serves
// files but never a script's source, hidden names, build files, traversal
// or links out.
func TestScriptsFolders(t *testing.T) {
	base := folderSite(t, "static = true\nindex = [\"index.tpl\", \"index.html\"]")
	cases := []struct {
		name, target string
		status       int
		body, header string // body exact when set; header "Name: value" when set
	}{
		{"folder without slash", "/s", 301, "", "Location: /s/"},
		{"subfolder without slash keeps the query", "/s/blog?x=1", 301, "", "Location: /s/blog/?x=1"},
		{"index script", "/s/", 200, "/s/index.tpl|/cgi-bin/index.tpl|/cgi-bin|\n", ""},
		{"index script of a subfolder", "/s/blog/", 200, "/s/blog/index.tpl|/cgi-bin/blog/index.tpl|/cgi-bin|\n", ""},
		{"script with path info", "/s/show.tpl/a/b", 200, "/s/show.tpl|/cgi-bin/show.tpl|/cgi-bin|/a/b\n", ""},
		{"static index", "/s/docs/", 200, "<h1>docs</h1>\n", "Content-Type: text/html; charset=utf-8"},
		{"static file", "/s/style.css", 200, "body { color: red }\n", "Content-Type: text/css; charset=utf-8"},
		{"static file in a subfolder", "/s/sub/ok.txt", 200, "ok\n", ""},
		{"script in a subfolder runs, as ScriptAlias does", "/s/lib/helper.tpl", 200, "/s/lib/helper.tpl|/cgi-bin/lib/helper.tpl|/cgi-bin|\n", ""},
		{"folder with no index", "/s/sub/", 404, "", ""},
		{"build file", "/s/go.mod", 404, "", ""},
		{"hidden file", "/s/.secret", 404, "", ""},
		{"hidden file in a subfolder", "/s/sub/.hidden", 404, "", ""},
		{"traversal", "/s/sub/../../test.toml", 404, "", ""},
		{"encoded traversal", "/s/sub/..%2f..%2ftest.toml", 404, "", ""},
		{"folder link out", "/s/out/secret.txt", 404, "", ""},
		{"file link out", "/s/out.css", 404, "", ""},
		{"missing file", "/s/none.css", 404, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base, nil)
			req.URL.Opaque = c.target // not cleaned by the client
			res, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b := readAll(t, res)
			if res.StatusCode != c.status {
				t.Fatalf("got %d %q; want %d", res.StatusCode, b, c.status)
			}
			if c.body != "" && b != c.body {
				t.Errorf("got body %q; want %q", b, c.body)
			}
			if k, v, ok := strings.Cut(c.header, ": "); ok && res.Header.Get(k) != v {
				t.Errorf("got %s %q; want %q", k, res.Header.Get(k), v)
			}
			if c.status == 404 && strings.Contains(b, "secret") {
				t.Errorf("got body %q; want no secret", b)
			}
		})
	}
}

// TestScriptsStaticSemantics: a static file has net/http's file semantics:
// ETag and Last-Modified, 304, Range, HEAD; POST is refused.
func TestScriptsStaticSemantics(t *testing.T) {
	base := folderSite(t, "static = true")
	res, body := doRaw(t, "GET", base, "/s/style.css", "", nil)
	etag, lm := res.Header.Get("ETag"), res.Header.Get("Last-Modified")
	if res.StatusCode != 200 || etag == "" || lm == "" {
		t.Fatalf("got %d ETag %q Last-Modified %q; want 200 with both", res.StatusCode, etag, lm)
	}
	cases := []struct {
		name, method string
		header       http.Header
		status       int
		body         string
	}{
		{"If-None-Match", "GET", http.Header{"If-None-Match": {etag}}, 304, ""},
		{"If-Modified-Since", "GET", http.Header{"If-Modified-Since": {lm}}, 304, ""},
		{"Range", "GET", http.Header{"Range": {"bytes=0-3"}}, 206, "body"},
		{"HEAD", "HEAD", nil, 200, ""},
		{"POST", "POST", nil, 405, "405 Method Not Allowed\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, b := doRaw(t, c.method, base, "/s/style.css", "", c.header)
			if res.StatusCode != c.status || b != c.body {
				t.Errorf("got %d %q; want %d %q", res.StatusCode, b, c.status, c.body)
			}
		})
	}
	if res.ContentLength != int64(len(body)) {
		t.Errorf("got Content-Length %d; want %d", res.ContentLength, len(body))
	}
}

// TestScriptsStaticOffByDefault: without static = true no file is served,
// and the default index list runs index.wasm.
func TestScriptsStaticOffByDefault(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "scripts")
	writeFile(t, filepath.Join(sc, "style.css"), "body {}\n")
	writeFile(t, filepath.Join(sc, "docs", "index.html"), "<h1>docs</h1>\n")
	writeFile(t, filepath.Join(sc, "app", "x.txt"), "x\n")
	writeFakeGuest(t, filepath.Join(sc, "index.wasm"), "as env.wasm")
	srv, _, _, _ := scriptsSite(t, dir, scriptsConfig(dir, ""))
	for _, target := range []string{"/s/style.css", "/s/docs/", "/s/app/x.txt"} {
		if res, b := doRaw(t, "GET", srv.URL, target, "", nil); res.StatusCode != 404 {
			t.Errorf("%s: got %d %q; want 404", target, res.StatusCode, b)
		}
	}
	res, b := doRaw(t, "GET", srv.URL, "/s/", "", nil)
	env := parseEnv(t, b).env
	if res.StatusCode != 200 || env["SCRIPT_NAME"] != "/s/index.wasm" || env["SCRIPT_FILENAME"] != "/cgi-bin/index.wasm" || env["DOCUMENT_ROOT"] != "/cgi-bin" {
		t.Errorf("got %d SCRIPT_NAME %q SCRIPT_FILENAME %q DOCUMENT_ROOT %q; want 200 /s/index.wasm /cgi-bin/index.wasm /cgi-bin",
			res.StatusCode, env["SCRIPT_NAME"], env["SCRIPT_FILENAME"], env["DOCUMENT_ROOT"])
	}
}
