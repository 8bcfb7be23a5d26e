package router

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScriptsGoSnapshot: a Go script on a scripts route is built as a
// reactor and served from a snapshot of the Go runtime's init (issue 12);
// over HTTP each request still sees its own state: a package counter at
// 1, its own math/rand, math/rand/v2 and time, its own CGI environment (a
// hostile header verbatim) and argv. snapshot = false on a route serves
// the same script booting the runtime per request. The build's log line
// says which.
func TestScriptsGoSnapshot(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(repoRoot, "wasi", "testdata", "gosnap", "iso.go"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "scripts", "iso.go"), string(src))
	writeFile(t, filepath.Join(dir, "data", "file.txt"), "from the volume\n")
	srv, logs := scriptsSite(t, dir, `
[[route]]
path = "/s/*"
scripts = "scripts"
volumes = { "/data" = "data" }
timeout = "120s"

[[route]]
path = "/off/*"
scripts = "scripts"
volumes = { "/data" = "data" }
timeout = "120s"
snapshot = false
`)
	hostile := `a'b"c\d` + "\t%00x"
	for _, prefix := range []string{"/s", "/off"} {
		lines := func(word string) map[string]string {
			t.Helper()
			res, body := doRaw(t, "GET", srv.URL, prefix+"/iso.go?"+word, "", http.Header{"X-T": {hostile + word}})
			skipMissing(t, res.StatusCode, body)
			if res.StatusCode != 200 {
				t.Fatalf("GET %s/iso.go: status %d; want 200 (%s)", prefix, res.StatusCode, body)
			}
			l := map[string]string{}
			for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
				k, v, _ := strings.Cut(line, "=")
				l[k] = v
			}
			return l
		}
		a, b := lines("w1"), lines("w2")
		for _, k := range []string{"rand", "randv2", "time"} {
			if a[k] == b[k] {
				t.Errorf("%s: %s = %s in both requests; want each request's own", prefix, k, a[k])
			}
		}
		for i, l := range []map[string]string{a, b} {
			w := []string{"w1", "w2"}[i]
			if l["counter"] != "1" || l["file"] != "from the volume" {
				t.Errorf("%s %s: counter %s, file %q; want 1, \"from the volume\"", prefix, w, l["counter"], l["file"])
			}
			if want := `["` + prefix + `/iso.go" "` + w + `"]`; l["args"] != want {
				t.Errorf("%s %s: os.Args = %s; want %s", prefix, w, l["args"], want)
			}
			if !strings.Contains(l["env"], `"QUERY_STRING=`+w+`"`) || !strings.Contains(l["env"], `"HTTP_X_T=a'b\"c\\d\t%00x`+w+`"`) {
				t.Errorf("%s %s: os.Environ() = %s; want QUERY_STRING=%s and X-T's value verbatim", prefix, w, l["env"], w)
			}
		}
	}
	log := logs.String()
	if !strings.Contains(log, `"snapshot":"snapshot: `) || !strings.Contains(log, `"snapshot":"turned off"`) {
		t.Errorf("log %s; want a script built with a snapshot and one with it turned off", log)
	}
}
