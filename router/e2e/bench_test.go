package e2e_test

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkHTTP is a whole request over real HTTP on loopback (keep-alive):
// chi routing, middleware, the CGI host and a fresh hello.wasm instance.
func BenchmarkHTTP(b *testing.B) {
	srv, _ := testSite(b, "", `
[[route]]
path = "/hello"
module = "hello.wasm"
`)
	url := srv.URL + "/hello"
	client := srv.Client()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK || string(body) != "hello\n" {
			b.Fatalf("status %d body %q err %v; want 200 hello", res.StatusCode, body, err)
		}
	}
}
