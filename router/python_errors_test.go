package router

import (
	"net/http"
	"strings"
	"testing"
)

// TestPythonShowErrors: with show_errors = true a crashed script's page
// holds its traceback and why it failed; without it, the page is the bare
// status and the traceback stays in the log.
func TestPythonShowErrors(t *testing.T) {
	for _, show := range []bool{false, true} {
		name := "off"
		extra := ""
		if show {
			name, extra = "on", "show_errors = true\n"
		}
		t.Run(name, func(t *testing.T) {
			base, logs := pythonSiteRoute(t, "", extra)
			res, body := pyDo(t, "GET", base+"/s/boom.py", "", nil)
			if res.StatusCode != http.StatusBadGateway {
				t.Fatalf("status %d; want 502\nlog: %s", res.StatusCode, logs)
			}
			want := []string{"Bad Gateway: guest exited with code 1", "Traceback (most recent call last):", `File "/cgi-bin/boom.py", line 1`, "ValueError: secret-detail 42"}
			for _, w := range want {
				if got := strings.Contains(body, w); got != show {
					t.Errorf("page contains %q: %v; want %v\npage: %q", w, got, show, body)
				}
			}
			if !show && body != "Bad Gateway\n" {
				t.Errorf("page %q; want %q", body, "Bad Gateway\n")
			}
			if !strings.Contains(logs.String(), "secret-detail 42") {
				t.Errorf("log lacks the traceback: %s", logs)
			}
			// A script that works is unchanged.
			if res, body := pyDo(t, "GET", base+"/s/hello.py", "", nil); res.StatusCode != 200 || !strings.HasPrefix(body, "hello from Python") {
				t.Errorf("hello.py: got %d %q; want 200 hello", res.StatusCode, body)
			}
		})
	}
}
