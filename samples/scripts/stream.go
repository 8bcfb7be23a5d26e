//go:build ignore

// stream.go writes its response in pieces over two seconds. Each line goes
// straight to os.Stdout, which in Go is unbuffered: every Fprintf is one
// fd_write call, so a host that forwards writes as they happen lets the
// browser see the lines arrive one by one.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	start := time.Now()
	// text/plain with nosniff: some browsers buffer the first bytes of an
	// unlabelled or sniffable response before showing anything.
	fmt.Fprint(os.Stdout, "Content-Type: text/plain; charset=utf-8\nX-Content-Type-Options: nosniff\n\n")
	for n := 1; n <= 10; n++ {
		fmt.Fprintf(os.Stdout, "line %d at %d ms\n", n, time.Since(start).Milliseconds())
		if n < 10 {
			time.Sleep(200 * time.Millisecond)
		}
	}
}
