package wasi

import (
	"context"
	"os"
	"strings"
	"testing"
)

// compileFile compiles the module at path on e, closed when the test ends.
func compileFile(t testing.TB, e *Engine, path string) *Module {
	t.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Compile(context.Background(), path, wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

// bodyLines is a CGI response's body lines "key=value" by key.
func bodyLines(out string) map[string]string {
	got := map[string]string{}
	_, body, _ := strings.Cut(out, "\n\n")
	for _, line := range strings.Split(body, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	return got
}
