package router

import (
	"errors"
	"strings"
	"testing"
)

func TestParseWAGIRoutes(t *testing.T) {
	cases := []struct {
		name string
		text string
		want string // "pattern entry|..."; "" means an error
		err  string // substring of the error
	}{
		{name: "two columns", text: "/a alpha\n/b/... beta\n", want: "/a alpha|/b/* beta"},
		{name: "blank lines and CRLF", text: "\n/a alpha\r\n\n/b beta", want: "/a alpha|/b beta"},
		{name: "tabs and runs of spaces", text: "/a \t  alpha\n", want: "/a alpha"},
		{name: "one column", text: "/a alpha\n/c\n", err: `line 2 "/c" has 1 columns; want two`},
		{name: "three columns", text: "/a alpha extra\n", err: `line 1 "/a alpha extra" has 3 columns`},
		{name: "white space only", text: "/a alpha\n   \n", err: "line 2"},
		{name: "empty", text: "", err: "no routes"},
		{name: "only newlines", text: "\n\n", err: "no routes"},
		{name: "relative path", text: "a alpha\n", err: `path "a" must start with /`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			subs, err := parseWAGIRoutes(c.text)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrRoutesAnswer) {
					t.Fatalf("got routes %v, error %v; want an ErrRoutesAnswer containing %q", subs, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v; want routes %q", err, c.want)
			}
			var got []string
			for _, s := range subs {
				got = append(got, s.pattern+" "+s.entry)
			}
			if strings.Join(got, "|") != c.want {
				t.Errorf("got routes %q; want %q", strings.Join(got, "|"), c.want)
			}
		})
	}
}
