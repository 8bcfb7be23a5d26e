package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasigate/wasigate/wasi/toolchain"
)

// TestConfiguredMaxModuleSizeBoundsBuilds: a max_module_size below the
// default bounds a scripts route's build as it bounds a dropped module:
// a C script whose module is 2 MiB under max_module_size = "1MiB" is
// refused "too large" and nothing over the bound is kept in cache_dir's
// builds. (Each tenant's Builder, WithSlots, dropped MaxModuleSize: the
// build was checked against the 128 MiB default and kept.)
func TestConfiguredMaxModuleSizeBoundsBuilds(t *testing.T) {
	needClang(t)
	s := startServe(t, buildSettings()+`max_module_size = "1MiB"

[[route]]
path = "/s/*"
scripts = "scripts"
timeout = "60s"
`, map[string]string{
		"scripts/big.c": "#include <stdio.h>\nchar big[2<<20] = {1};\nint main(void) { printf(\"Content-Type: text/plain\\n\\n%d\\n\", big[0]); return 0; }\n",
	})
	client := &http.Client{Timeout: 90 * time.Second}
	res, err := client.Get(s.url + "/s/big.c")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "max_module_size") {
		t.Fatalf("got %d %q; want 500 naming max_module_size\n%s", res.StatusCode, body, s.logs)
	}
	builds, _ := filepath.Glob(filepath.Join(s.dir, "cache", toolchain.BuildsFolder, "*.wasm"))
	for _, b := range builds {
		if st, err := os.Stat(b); err == nil && st.Size() > 1<<20 {
			t.Errorf("got %s of %d bytes kept in cache_dir; want no build over max_module_size (1 MiB) kept", filepath.Base(b), st.Size())
		}
	}
}
