package cgi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/router"
	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/cgi"
)

// The Loader is router's, though neither package imports the other: the
// seam's types are the same type literals on both sides.
var _ router.Loader = (*cgi.Loader)(nil)

func newEngine(t *testing.T) *wasi.Engine {
	t.Helper()
	e, err := wasi.NewEngine(context.Background(), wasi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// TestHandlerEnv: the handler gives the guest the request's CGI
// variables and the configured ones, and the time the instance took to
// start reaches the invocation (no field-by-field copy loses it).
func TestHandlerEnv(t *testing.T) {
	e := newEngine(t)
	var inst []bool
	h, err := cgi.NewHandler(context.Background(), e, "../../testdata/guests/env.wasm", cgi.Options{
		Handler: host.Handler{Root: "/env", Env: []string{"GREETING=hi"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	run := h.Runner
	h.Runner = host.RunnerFunc(func(ctx context.Context, inv *host.Invocation) error {
		err := run.Run(ctx, inv)
		inst = append(inst, inv.Instantiate > 0)
		return err
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/env/extra?q=1")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	body := string(b)
	for _, want := range []string{"GREETING=hi", "SCRIPT_NAME=/env", "PATH_INFO=/extra", "QUERY_STRING=q=1"} {
		if !strings.Contains(body, want) {
			t.Errorf("body has no %q:\n%s", want, body)
		}
	}
	if len(inst) != 1 || !inst[0] {
		t.Errorf("Instantiate set: %v; want [true]", inst)
	}
}

// TestHandlerPanicsOnMissingModule: Handler is for a program's setup; a
// module that does not load panics with the package's prefix.
func TestHandlerPanicsOnMissingModule(t *testing.T) {
	defer func() {
		r := recover()
		if s, _ := r.(string); !strings.HasPrefix(s, "wasigate/cgi: ") {
			t.Errorf("recovered %v; want a panic starting with wasigate/cgi: ", r)
		}
	}()
	cgi.Handler(newEngine(t), "../../testdata/guests/missing.wasm", cgi.Options{})
}
