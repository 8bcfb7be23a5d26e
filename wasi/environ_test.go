package wasi

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRunEnviron runs the env oracle guest and checks the environment it
// read back through environ_sizes_get and environ_get.
func TestRunEnviron(t *testing.T) {
	ctx := context.Background()
	e, err := NewEngine(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	m, err := e.CompileFile(ctx, filepath.Join(repoDir, "testdata", "guests", "env.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Prepare(Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		want []string // env- lines, in order
		err  error
	}{
		{"none", nil, nil, nil},
		{"cgi", []string{"GATEWAY_INTERFACE=CGI/1.1", "QUERY_STRING=", "X=a=b"},
			[]string{"env-GATEWAY_INTERFACE=CGI/1.1", "env-QUERY_STRING=", "env-X=a=b"}, nil},
		{"duplicate: last value at the first place", []string{"A=1", "B=2", "A=3"},
			[]string{"env-A=3", "env-B=2"}, nil},
		{"utf-8 and long value", []string{"V=é€" + strings.Repeat("x", 5000)},
			[]string{"env-V=é€" + strings.Repeat("x", 5000)}, nil},
		{"empty name", []string{"=x"}, nil, errBadEnviron},
		{"nul in value", []string{"A=x\x00y"}, nil, errBadEnviron},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := p.Run(ctx, &Call{Args: []string{"env"}, Env: tc.env, Stdout: &out})
			if !errors.Is(err, tc.err) {
				t.Fatalf("Run: got error %v; want %v", err, tc.err)
			}
			if tc.err != nil {
				return
			}
			var got []string
			for _, line := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(line, "env-") {
					got = append(got, line)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got env lines %q; want %q", got, tc.want)
			}
		})
	}
}
