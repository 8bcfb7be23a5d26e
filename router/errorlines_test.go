package router

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestErrorLines(t *testing.T) {
	errA, errB := errors.New("a"), errors.New("b")
	wrapped := fmt.Errorf("%w: f.toml: route #1: %w", ErrConfig, errA)
	cases := []struct {
		name string
		err  error
		want []string
	}{
		{"nil", nil, nil},
		{"one", errA, []string{"a"}},
		{"join", errors.Join(errA, errB), []string{"a", "b"}},
		{"nested join", errors.Join(errA, errors.Join(errB, wrapped)), []string{"a", "b", wrapped.Error()}},
		{"two %w are one line", wrapped, []string{"invalid configuration: f.toml: route #1: a"}},
	}
	for _, c := range cases {
		if got := ErrorLines(c.err); strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: got %q; want %q", c.name, got, c.want)
		}
	}
}
