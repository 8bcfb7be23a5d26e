// Command wasigate serves CGI programs compiled to WebAssembly (WASI
// preview 1): one fresh sandboxed instance per request, routed by chi.
//
//	wasigate serve [-c wasigate.toml] [-l 127.0.0.1:8080]
//	wasigate run MODULE.wasm [TARGET]
//	wasigate check -c FILE
//	wasigate compile -c FILE
//	wasigate routes -c FILE
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(doMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `wasigate: CGI programs compiled to WebAssembly, one fresh sandbox per request.

Usage:
  wasigate serve   [-c FILE] [-l ADDR]   serve the routes of FILE (default: wasigate.toml, else samples/wasigate.toml)
  wasigate run     [-X METHOD] [-H 'K: V'] MODULE [TARGET]
                                         run one request (TARGET like /x/y?a=1, body from stdin)
                                         and print the HTTP/1.1 response
  wasigate check   [-c FILE]             validate the configuration and every module
  wasigate compile [-c FILE]             fill the compilation cache (for image builds)
  wasigate routes  [-c FILE]             print the route table
  wasigate version

FILE is a wasigate TOML file or a WAGI modules.toml.
`

// doMain runs the command line and returns the exit code, so that it can
// be tested without exiting.
func doMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(rest, stdout, stderr)
	case "run":
		return cmdRun(rest, stdin, stdout, stderr)
	case "check":
		return cmdCheck(rest, stdout, stderr)
	case "compile":
		return cmdCompile(rest, stdout, stderr)
	case "routes":
		return cmdRoutes(rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "wasigate", version())
		return 0
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "wasigate: unknown command %q\n\n%s", cmd, usage)
	return 2
}
