package router

import (
	"slices"
	"strings"
	"testing"
)

// TestPreloadAuto: preload is a list, or "auto" (learned, as when left
// out); any other word is refused naming the key.
func TestPreloadAuto(t *testing.T) {
	tests := []struct {
		value string
		want  []string
		err   bool
	}{
		{`["cgi", "json"]`, []string{"cgi", "json"}, false},
		{`"auto"`, nil, false},
		{`"cgi"`, nil, true},
		{`3`, nil, true},
	}
	for _, tt := range tests {
		cfg, err := ParseConfig(strings.NewReader("[[interpreter]]\next = \".py\"\nmodule = \"p.wasm\"\npreload = "+tt.value+"\n"), "t.toml")
		if (err != nil) != tt.err {
			t.Errorf("preload = %s: got error %v; want error %v", tt.value, err, tt.err)
			continue
		}
		if err == nil && !slices.Equal(cfg.Interpreters[0].Preload, tt.want) {
			t.Errorf("preload = %s: got %v; want %v", tt.value, cfg.Interpreters[0].Preload, tt.want)
		}
	}
}
