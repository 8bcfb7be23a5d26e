package router

import (
	"net/http"
	"strings"
	"testing"
)

// TestPythonWorkdir: a script starts in its own folder, as under Apache,
// so a file beside it opens by its relative path; and a path outside every
// volume is absent (FileNotFoundError), not "capabilities insufficient"
// (errno 76, a PermissionError).
func TestPythonWorkdir(t *testing.T) {
	pythonScripts["relative.py"] = `import os
print("Content-Type: text/plain\n")
print("cwd=" + os.getcwd())
with open("data.txt") as f:
    print("data=" + f.read().strip())
`
	pythonScripts["data.txt"] = "beside the script\n"
	pythonScripts["absent.py"] = `print("Content-Type: text/plain\n")
for p in ("/nonexistent/x", "/etc/passwd", "nonexistent.txt"):
    try:
        open(p)
        print(p, "opened")
    except FileNotFoundError:
        print(p, "absent")
`
	t.Cleanup(func() {
		for _, k := range []string{"relative.py", "data.txt", "absent.py"} {
			delete(pythonScripts, k)
		}
	})
	base, logs := pythonSite(t, "")
	cases := []struct{ script, want string }{
		{"relative.py", "cwd=/cgi-bin\ndata=beside the script\n"},
		{"absent.py", "/nonexistent/x absent\n/etc/passwd absent\nnonexistent.txt absent\n"},
	}
	for _, c := range cases {
		res, body := pyDo(t, "GET", base+"/s/"+c.script, "", nil)
		if res.StatusCode != http.StatusOK || body != c.want {
			t.Errorf("%s: got %d %q; want 200 %q\nlog: %s", c.script, res.StatusCode, body, c.want, logs)
		}
	}
	if strings.Contains(logs.String(), "PermissionError") {
		t.Errorf("log holds a PermissionError: %s", logs)
	}
}
