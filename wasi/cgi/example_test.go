package cgi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/cgi"
)

// An embedder serves a module from its own Go server, as it would a
// program with net/http/cgi: one engine for the process, one line per
// module.
func Example() {
	ctx := context.Background()
	engine, err := wasi.NewEngine(ctx, wasi.Options{})
	if err != nil {
		panic(err)
	}
	defer engine.Close(ctx)

	mux := http.NewServeMux()
	mux.Handle("/app/", cgi.Handler(engine, "../../testdata/guests/hello.wasm", cgi.Options{}))

	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/app/")
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	fmt.Printf("%d %s %q\n", res.StatusCode, res.Header.Get("Content-Type"), body)
	// Output: 200 text/plain "hello\n"
}
