package wasi

import (
	"os"

	"github.com/wasigate/wasigate/wasi/toolchain"
)

// trustedTestBuilds says whether the tests' builders build unsandboxed: on
// a machine without a build sandbox (bubblewrap), unless the run requires
// every toolchain (WASIGATE_REQUIRE_TOOLCHAINS=1, as in CI), so that `go
// test ./...` works with only Go installed. The sources are the
// repository's own.
func trustedTestBuilds() bool {
	return os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") == "" && !toolchain.DetectSandbox().Available()
}
