package wasi

import (
	"strings"
	"testing"
)

// FuzzGuestHeaders: the header lines a guest passes to req never panic
// the parser, and what it accepts holds only token names and values
// without control characters but tab (issue 16).
func FuzzGuestHeaders(f *testing.F) {
	for _, s := range []string{"", "a:b\n", "Content-Type: text/plain\r\nX-A:1\n\n", "no colon\n", "x:\x00\n", ":v\n", "a b:c\n", "k:v\tw\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseGuestHeaders(s)
		if err != nil {
			return
		}
		for k, vs := range h {
			if !validMethod(k) {
				t.Fatalf("accepted name %q", k)
			}
			for _, v := range vs {
				if strings.ContainsFunc(v, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }) {
					t.Fatalf("accepted value %q", v)
				}
			}
		}
	})
}
