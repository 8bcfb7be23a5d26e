package toolchain

import (
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Go programs as reactors
// (cmd/wasigate/DECISIONS.md#go-programs-are-built-as-reactors): a Go
// script or module folder is built with -buildmode=c-shared and one more
// file in its package main, gomain.go.txt, which makes it a driver of
// wasigate's init/run ABI (wasi/driver.go): wasi snapshots the runtime's
// init, and the export GoRunExport runs main per request. The file reaches
// the build through go build -overlay: the compiler sees the package with
// the file added, while it is only written into the build's own work
// folder, never into the program's folder (which the sandbox mounts
// read-only). A program that does not build this way is built as before,
// with _start, and the reason is kept beside the module (Result.Fallback).

// GoRunExport is the generated file's per-request entry (wasi/driver.go's
// wasigate_run): reseed the runtime, set os.Args and the environment from
// WASI, run main.
const GoRunExport = "wasigate_run"

//go:embed gomain.go.txt
var goMainSource []byte

// goMainFile is the generated file's name in the package as the compiler
// sees it; a program with a file of that name is built with _start.
const goMainFile = "zz_wasigate_go_main.go"

// goReactorVersion goes into the build's content hash (with the generated
// file's text): modules built before Go programs were built as reactors
// (with _start) are built again. Change it when goinitenv.go's rules
// change.
const goReactorVersion = "go reactor v1"

// maxFallback bounds the reason kept for a fallback build.
const maxFallback = 2048

// goReactorJob is j (a plain Go build, goJob's) turned into the reactor
// build: the generated file through an overlay in outDir, c-shared, and
// the linker's check of go:linkname off (the generated file reaches the
// runtime's random state). The reason is not empty, and the job j, when
// the program cannot be built this way: its package already has a file of
// the generated file's name, or its init reads the environment
// (goinitenv.go).
func goReactorJob(j job, src, outDir string) (job, string, error) {
	added := filepath.Join(j.dir, goMainFile)
	if _, err := os.Lstat(added); err == nil {
		return j, "the package has a file named " + goMainFile, nil
	}
	files, err := goPackageFiles(src)
	if err != nil {
		return j, "", err
	}
	if why, err := goInitEnv(files); err != nil || why != "" {
		return j, why, err
	}
	gen := filepath.Join(outDir, goMainFile)
	if err := os.WriteFile(gen, goMainSource, 0o600); err != nil {
		return j, "", err
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {added: gen}})
	if err != nil {
		return j, "", err
	}
	ov := filepath.Join(outDir, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o600); err != nil {
		return j, "", err
	}
	r := j
	// go build [flags] -o out ARGS: the flags go before -o.
	r.argv = append([]string{j.argv[0], "build", "-overlay=" + ov, "-buildmode=c-shared", "-ldflags=-checklinkname=0"}, j.argv[2:]...)
	if last := r.argv[len(r.argv)-1]; last != "." {
		// A single file: the generated one is named beside it.
		r.argv = append(r.argv, goMainFile)
	}
	return r, "", nil
}

// fallbackPath is where the reason for a fallback build of out is kept.
func fallbackPath(out string) string { return out + ".fallback" }

// readFallback returns the reason kept beside a cached module, if any.
func readFallback(out string) string {
	f, err := os.Open(fallbackPath(out))
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxFallback))
	return string(b)
}

// fallbackReason is the one-line reason of a reactor build that failed
// while the plain build succeeded.
func fallbackReason(err error) string {
	msg := err.Error()
	var be *Error
	if errors.As(err, &be) && be.Output != "" {
		msg = be.Output
	}
	// The first line that says something: go build starts with "# pkg".
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			msg = l
			break
		}
	}
	if len(msg) > maxFallback-100 {
		msg = msg[:maxFallback-100]
	}
	return "built with _start, not as a reactor: " + msg
}
