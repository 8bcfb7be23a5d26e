package e2e_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPythonEditRetakeTimeout: a request whose timeout passes while it
// waits for the interpreter's snapshot taken again after an edit (the
// edited helper counts for a second or more at import; the route's
// timeout is 500 ms) answers
// 503 with Retry-After, saying so rather than that a script is building,
// with reason building; the retake goes on, and a later request runs the
// edited helper.
func TestPythonEditRetakeTimeout(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	scripts := filepath.Join(dir, "scripts")
	writeFile(t, filepath.Join(scripts, "show.py"), editScript)
	writeFile(t, filepath.Join(scripts, "helper.py"), helperSource("one"))
	extra := "env = { PYTHONDONTWRITEBYTECODE = \"1\", PYTHONPATH = \"/cgi-bin\" }\npreload = [\"helper\"]"
	base, logs, stop := editSiteWith(t, dir, extra, `timeout = "500ms"`)
	defer stop()
	if status, body := editGet(t, base+"/s/show.py"); status != 200 || oracle(body)["value"] != "one" {
		t.Fatalf("first request: %d %q; want 200 value=one\nlog: %s", status, body, logs)
	}
	// Busy: the init's clock does not move while it sleeps.
	writeFile(t, filepath.Join(scripts, "helper.py"), "n = 0\nfor i in range(8000000):\n    n += i\n"+helperSource("two"))
	status, body := editGet(t, base+"/s/show.py")
	const want = "the interpreter's snapshot is being taken again after an edit"
	if status != 503 || !strings.Contains(body, want) {
		t.Fatalf("request during the retake, past its timeout: %d %q; want 503 saying %q\nlog: %s", status, body, want, logs)
	}
	if strings.Contains(body, "still building") {
		t.Errorf("503 page %q speaks of a script building; want the retake after an edit", body)
	}
	if !strings.Contains(logs.String(), `"reason":"building"`) {
		t.Errorf("no request event with reason building\nlog: %s", logs)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		status, body = editGet(t, base+"/s/show.py")
		if status == 200 && oracle(body)["value"] == "two" {
			break
		}
		if status != 503 || time.Now().After(deadline) {
			t.Fatalf("after the edit: %d value=%q; want 503 until the retake ends, then 200 value=two\nlog: %s", status, oracle(body)["value"], logs)
		}
	}
	if n := editRetakes(logs); n != 1 {
		t.Errorf("%d retakes for one edit; want 1\nlog: %s", n, logs)
	}
}
