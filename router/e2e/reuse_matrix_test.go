package e2e_test

import (
	"os"
	"testing"

	"github.com/wasigate/wasigate/router"
)

// TestMain runs the package's tests with instance reuse off by default
// when WASIGATE_TEST_REUSE=off, so that every isolation test is checked
// both ways (reuse is on by default).
func TestMain(m *testing.M) {
	if os.Getenv("WASIGATE_TEST_REUSE") == "off" {
		*router.DefaultLimits.Reuse = false
	}
	os.Exit(m.Run())
}
