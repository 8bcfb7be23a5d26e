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
// It also gives the package 30 minutes when -timeout is go test's
// default of 10 (which go test passes explicitly): these tests build and
// serve real guests (CPython, ruby.wasm, clang, rustc) over HTTP, about 8
// minutes on 2 quiet cores and past 10 while `go test ./...` runs other
// packages beside them. Each test keeps its own deadlines, so a hang still
// fails there; any other -timeout is kept as given.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.timeout"); f != nil && f.Value.String() == (10*time.Minute).String() {
		if err := f.Value.Set((30 * time.Minute).String()); err != nil {
			panic(err)
		}
	}
	if os.Getenv("WASIGATE_TEST_REUSE") == "off" {
		*router.DefaultLimits.Reuse = false
	}
	os.Exit(m.Run())
}
