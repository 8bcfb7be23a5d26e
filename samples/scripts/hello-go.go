//go:build ignore

// hello-go.go is the plain Go counterpart of the C hello: no net/http, just
// environment variables in and text on stdout. Build it by file name for
// GOOS=wasip1 GOARCH=wasm (see index.go for why the build constraint).
package main

import (
	"fmt"
	"os"
)

func main() {
	// CGI/1.1 (RFC 3875) hands the request over as meta-variables.
	method := os.Getenv("REQUEST_METHOD")
	path := os.Getenv("PATH_INFO") // the part of the URL after the script name

	// Header block, then a blank line, then the body.
	fmt.Print("Content-Type: text/plain; charset=utf-8\n\n")
	fmt.Println("Hello from Go (GOOS=wasip1) in a fresh WebAssembly instance")
	fmt.Printf("method: %s\npath:   %q\n", method, path)
}
