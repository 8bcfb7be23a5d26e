package e2e_test

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/wasigate/wasigate/router"
)

// TestMain runs the package's tests with instance reuse off by default
// when WASIGATE_TEST_REUSE=off, so that every isolation test is checked
// both ways (reuse is on by default).
//
// It also gives the package 30 minutes instead of go test's default 10
// when -timeout is not given: these tests build and serve real guests
// (CPython, ruby.wasm, clang, rustc) over HTTP, about 8 minutes on 2 quiet
// cores and past 10 while `go test ./...` runs other packages beside
// them. Each test keeps its own deadlines, so a hang still fails there.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.timeout" })
	if !set {
		if err := flag.Set("test.timeout", (30 * time.Minute).String()); err != nil {
			panic(err)
		}
	}
	if os.Getenv("WASIGATE_TEST_REUSE") == "off" {
		*router.DefaultLimits.Reuse = false
	}
	os.Exit(m.Run())
}
