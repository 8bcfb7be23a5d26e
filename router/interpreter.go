package router

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/wasigate/wasigate/host/seam"
)

// InterpreterOptions are the [[interpreter]] keys beyond ext, module and
// install: what an interpreter such as CPython needs besides the script
// (cmd/wasigate/DECISIONS.md#interpreter-options-and-a-per-request-tmp).
// Every one is optional; the zero value is an interpreter that gets only
// argv (its name, the script, the CGI arguments) and the CGI environment.
type InterpreterOptions struct {
	// Args are interpreter options placed between argv[0] and the
	// script's path (["-S"]). Each must start with "-": words from the
	// request only ever come after the script, so they cannot become
	// options (the CVE-2012-1823 family).
	Args []string `toml:"args"`
	// Env is the interpreter's own environment (PYTHONHOME), added to the
	// CGI variables of every request.
	Env map[string]string `toml:"env"`
	// Preload names modules the interpreter imports at start-up; it gets
	// them as WASIGATE_PRELOAD, comma-separated (samples/python/driver.c).
	// Without it (or with "auto") the list is learned (interpreter_learn.go).
	Preload PreloadList `toml:"preload"`
	// Volumes are read-only folders (a standard library, site-packages)
	// at fixed guest paths, relative to the configuration's folder, with
	// the same syntax as a route's volumes.
	Volumes map[string]Volume `toml:"volumes"`
	// Scratch gives every request a fresh, empty, writable /tmp, removed
	// when the request ends (a folder under the server's $TMPDIR). Default
	// false: the guest has no writable folder.
	Scratch bool `toml:"scratch"`
	// ScratchSize caps what a request's scratch folder holds: its files'
	// bytes and 4 KiB per file or folder (default 64MiB); a write beyond
	// it fails (EIO) and writes nothing.
	ScratchSize Size `toml:"scratch_size"`
	// Snapshot, on unless false, starts ruby.wasm's instances from a
	// snapshot taken after ruby-init and the preloads
	// (cmd/wasigate/DECISIONS.md#interpreters-start-from-a-snapshot-of-their-start-up).
	Snapshot *bool `toml:"snapshot"`
}

// quotaMin is the smallest scratch_size: a few files' worth.
const quotaMin = 64 << 10

// ScratchGuestDir is where an interpreter with scratch sees its fresh
// folder.
const ScratchGuestDir = "/tmp"

// PreloadEnv is the variable that carries an interpreter's preload list.
const PreloadEnv = "WASIGATE_PRELOAD"

// checkInterpreter returns the problems of an interpreter's options.
func checkInterpreter(where string, in Interpreter) []string {
	var bad []string
	for _, a := range in.Args {
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			bad = append(bad, fmt.Sprintf("%s: args %q is not an option (options start with -; the script's path follows them)", where, a))
		}
	}
	for _, m := range envProblems(in.Env) {
		bad = append(bad, where+": "+m)
	}
	if _, ok := in.Env[PreloadEnv]; ok && len(in.Preload) > 0 {
		bad = append(bad, fmt.Sprintf("%s: env %s is set by preload", where, PreloadEnv))
	}
	for _, m := range in.Preload {
		if m == "" || strings.ContainsAny(m, ", \x00") {
			bad = append(bad, fmt.Sprintf("%s: preload %q is not a module name", where, m))
		}
	}
	switch {
	case in.ScratchSize < 0:
		bad = append(bad, fmt.Sprintf("%s: scratch_size must be positive", where))
	case in.ScratchSize > 0 && !in.Scratch:
		bad = append(bad, fmt.Sprintf("%s: scratch_size without scratch = true", where))
	case in.ScratchSize > 0 && in.ScratchSize < quotaMin:
		bad = append(bad, fmt.Sprintf("%s: scratch_size must be at least 64KiB", where))
	}
	for g, v := range in.Volumes {
		switch {
		case !strings.HasPrefix(g, "/"):
			bad = append(bad, fmt.Sprintf("%s: volume guest path %q must be absolute", where, g))
		case path.Clean(g) == ScriptsGuestDir:
			bad = append(bad, fmt.Sprintf("%s: volume %s: interpreters see the scripts folder there", where, g))
		case v.Path == "":
			bad = append(bad, fmt.Sprintf("%s: volume %s needs a host folder", where, g))
		case in.Scratch && path.Clean(g) == ScratchGuestDir:
			bad = append(bad, fmt.Sprintf("%s: volume %s: scratch mounts a fresh folder there", where, g))
		case v.Writable:
			bad = append(bad, fmt.Sprintf("%s: volume %s: an interpreter's volumes are read-only (a writable folder is a route's volume)", where, g))
		}
	}
	for _, m := range sameGuestFolder(in.Volumes) {
		bad = append(bad, where+": "+m)
	}
	return bad
}

// interpreterVolumes resolves an interpreter's volumes against the
// configuration's folder; a missing folder fails the start, naming it.
func interpreterVolumes(cfg *Config, in Interpreter) ([]seam.Mount, error) {
	var vols []seam.Mount
	for _, g := range sortedKeys(in.Volumes) {
		dir := cfg.Abs(in.Volumes[g].Path)
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", g, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("volume %s: %s is not a folder", g, dir)
		}
		vols = append(vols, seam.Mount{Guest: g, Host: dir})
	}
	return vols, nil
}

// interpreterEnv is the environment an interpreter adds to every request:
// its env, in name order, and the preload list.
func interpreterEnv(in Interpreter) []string {
	var env []string
	keys := make([]string, 0, len(in.Env))
	for k := range in.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+in.Env[k])
	}
	if len(in.Preload) > 0 {
		env = append(env, PreloadEnv+"="+strings.Join(in.Preload, ","))
	}
	return env
}
