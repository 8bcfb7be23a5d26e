package wasi

import (
	"os"
	"testing"
)

// TestMain runs the package's tests with instance reuse on for every
// program when WASIGATE_TEST_REUSE=on: each isolation test then also
// checks that a reused instance shows nothing of an earlier request.
func TestMain(m *testing.M) {
	reuseForTests = os.Getenv("WASIGATE_TEST_REUSE") == "on"
	os.Exit(m.Run())
}
