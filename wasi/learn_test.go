package wasi

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wasigate/wasigate/wasi/internal/guestfs"
)

// TestLearnReport: only names whose file is in a read-only learn root and
// matches the name are learned; lies and the scripts' files are not.
func TestLearnReport(t *testing.T) {
	lib, scripts, data := t.TempDir(), t.TempDir(), t.TempDir()
	for _, f := range []string{"json/__init__.py", "json/decoder.py", "cgi.pyc"} {
		os.MkdirAll(filepath.Dir(filepath.Join(lib, f)), 0o755)
		os.WriteFile(filepath.Join(lib, f), nil, 0o644)
	}
	os.WriteFile(filepath.Join(scripts, "helper.py"), nil, 0o644)
	os.WriteFile(filepath.Join(data, "datamod.py"), nil, 0o644)
	var mounts []guestfs.Mount
	for _, m := range []struct {
		guest, host string
		w           bool
	}{{"/lib", lib, false}, {"/cgi-bin", scripts, false}, {"/data", data, true}} {
		r, err := os.OpenRoot(m.host)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		mounts = append(mounts, guestfs.Mount{Guest: m.guest, Host: m.host, Writable: m.w, Root: r})
	}
	roots := []string{"/lib", "/data"}
	tests := []struct{ line, want string }{
		{"json\t/lib/json/__init__.py", "json"},
		{"json.decoder\t/lib/json/decoder.py", "json.decoder"},
		{"cgi\t/lib/cgi.pyc", "cgi"},
		{"decoder\t/lib/json/decoder.py", "decoder"}, // a path entry inside the root: the init's import decides
		{"json.scanner\t/lib/json/decoder.py", ""},   // another module's file
		{"helper\t/cgi-bin/helper.py", ""},           // the scripts' own
		{"datamod\t/data/datamod.py", ""},            // a writable volume
		{"missing\t/lib/missing.py", ""},             // no such file
		{"evil\t/etc/passwd", ""},
		{"x\t/lib/../etc/x.py", ""},
		{"../x\t/lib/x.py", ""},
		{"__main__\t/lib/__main__.py", ""},
		{"json", ""},
	}
	for _, tt := range tests {
		got := strings.Join(parseReport([]byte(tt.line), false, roots, mounts, map[string]bool{}), ",")
		if got != tt.want {
			t.Errorf("report %q: got %q; want %q", tt.line, got, tt.want)
		}
	}
	if got := parseReport([]byte(strings.Repeat("a\t/lib/a.py\n", learnReportMax)), false, roots, mounts, nil); got != nil {
		t.Errorf("an oversized report: got %v; want nothing", got)
	}
	rb := []struct{ line, want string }{
		{"/usr/local/lib/ruby/3.4.0/cgi.rb", "cgi"},
		{"/usr/local/lib/ruby/3.4.0/cgi/util.rb", "cgi/util"},
		{"/usr/local/lib/ruby/site_ruby/3.4.0/x.rb", "x"},
		{"/cgi-bin/helper.rb", ""},
		{"/usr/local/lib/ruby/3.4.0/enc/encdb.so", ""},
		{"/usr/local/lib/ruby/3.4.0/../../x.rb", ""},
	}
	for _, tt := range rb {
		got := strings.Join(parseReport([]byte(tt.line), true, roots, mounts, map[string]bool{}), ",")
		if got != tt.want {
			t.Errorf("ruby report %q: got %q; want %q", tt.line, got, tt.want)
		}
	}
}

// TestReadLearned: a corrupt or hostile kept list is ignored name by name.
func TestReadLearned(t *testing.T) {
	f := filepath.Join(t.TempDir(), "l.json")
	tests := []struct {
		content string
		want    []string
	}{
		{`{"names":["json","cgi"]}`, []string{"json", "cgi"}},
		{`{"names":["json","../x","json",""]}`, []string{"json"}},
		{`{"names":`, nil},
		{"\x00garbage", nil},
	}
	for _, tt := range tests {
		os.WriteFile(f, []byte(tt.content), 0o600)
		if got := readLearned(f, 256, false); !slices.Equal(got, tt.want) {
			t.Errorf("file %q: got %v; want %v", tt.content, got, tt.want)
		}
	}
	if got := readLearned(filepath.Join(t.TempDir(), "none"), 256, false); got != nil {
		t.Errorf("no file: got %v; want nothing", got)
	}
}
