package toolchain

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// job describes the toolchain run for src: its arguments, the variables
// its toolchain needs (and nothing of the server's environment), and the
// folders it may read and write. The output goes to outDir/module.wasm.
func (b *Builder) job(kind Kind, tool, src, outDir string) (job, error) {
	src, err := filepath.Abs(src)
	if err != nil {
		return job{}, err
	}
	realTool, err := filepath.EvalSymlinks(tool)
	if err != nil {
		return job{}, err
	}
	out := filepath.Join(outDir, "module.wasm")
	j := job{
		// TMPDIR: clang and rustc write intermediate objects there.
		env: map[string]string{"PATH": "/usr/bin:/bin", "TMPDIR": outDir, "LANG": "C"},
		dir: filepath.Dir(src),
		ro:  []string{realDir(tool), src},
		rw:  []string{outDir},
	}
	switch kind {
	case C:
		// Compiled, then linked without -O: clang's driver runs Binaryen's
		// wasm-opt after any link whose command line has -O, whenever
		// wasm-opt is on the machine, so one step would give a module that
		// depends on whether binaryen happens to be installed (a zero-filled
		// array packed away, the code rewritten) and whether the sandbox
		// shows it.
		obj := filepath.Join(outDir, "module.o")
		j.pre = []string{tool, "--target=wasm32-wasi", "-O2", "-c", "-o", obj, filepath.Base(src)}
		j.argv = []string{tool, "--target=wasm32-wasi", "-Wl,--strip-all", "-o", out, obj}
		for _, d := range []string{"/usr/include/wasm32-wasi", "/usr/lib/wasm32-wasi"} {
			if _, err := os.Stat(d); err == nil {
				j.ro = append(j.ro, d)
			}
		}
	case WAT:
		j.argv = []string{tool, "-o", out, filepath.Base(src)}
	case Rust:
		j.argv = []string{tool, "--target", "wasm32-wasi", "-O", "--edition", "2021", "-o", out, filepath.Base(src)}
		j.exe = realTool
	case Go:
		return b.goJob(j, tool, realTool, src, out)
	}
	return j, nil
}

// goJob builds a Go file or folder for GOOS=wasip1, offline
// (GOPROXY=off), without changing any go.mod (-mod=readonly): the
// module's dependencies must already be in the module cache, which the
// build sees read-only. Go's build cache is wasigate's own, under Dir, so
// that the standard library is compiled for wasip1 once.
func (b *Builder) goJob(j job, tool, realTool, src, out string) (job, error) {
	goroot := filepath.Dir(filepath.Dir(realTool))
	gocache := b.GoCache
	if gocache == "" {
		gocache = filepath.Join(b.Dir, "go-build")
	}
	gocache, err := filepath.Abs(gocache)
	if err != nil {
		return j, err
	}
	if err := os.MkdirAll(gocache, 0o700); err != nil {
		return j, err
	}
	j.env["GOROOT"] = goroot
	j.env["GOCACHE"] = gocache
	j.env["GOPATH"] = "/nonexistent" // no HOME either: telemetry stays off
	for k, v := range map[string]string{"GOOS": "wasip1", "GOARCH": "wasm", "CGO_ENABLED": "0",
		"GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly", "GOPROXY": "off", "GOWORK": "off",
		"GOENV": "off", "GONOSUMDB": "*", "GOSUMDB": "off"} {
		j.env[k] = v
	}
	j.ro = append(j.ro, goroot)
	j.rw = append(j.rw, gocache)
	if mc := goModCache(); mc != "" {
		j.env["GOMODCACHE"] = mc
		j.ro = append(j.ro, mc)
	}
	st, err := os.Stat(src)
	if err != nil {
		return j, err
	}
	dir := filepath.Dir(src)
	j.argv = []string{tool, "build", "-trimpath", "-o", out, filepath.Base(src)}
	if st.IsDir() {
		dir = src
		j.argv[len(j.argv)-1] = "."
	}
	// A single file: go build honours no //go:build ignore for files named
	// on the command line, so a folder of one-file programs works.
	j.dir = dir
	j.ro = append(j.ro, goVisible(src, dir, st.IsDir())...)
	return j, nil
}

// goVisible lists what of the file system a Go build of src sees besides
// the toolchain and the module cache: the script (a file, or its whole
// folder), and the go.mod and go.sum of the module around it, alone. The
// rest of that module is left out: other tenants' folders often sit in it
// (the repository's samples do), and a .s file's #include, a //go:embed
// or an import would read any of its files into the build's error or
// module. A Go folder that needs other packages holds them, or a go.mod
// of its own whose dependencies are in the module cache.
func goVisible(src, dir string, isDir bool) []string {
	paths := []string{src}
	mod := findGoMod(dir)
	if mod == "" || (isDir && under(mod, src)) {
		return paths // no module, or the folder's own: in the folder
	}
	paths = append(paths, mod)
	if sum := filepath.Join(filepath.Dir(mod), "go.sum"); exists(sum) {
		paths = append(paths, sum)
	}
	return paths
}

// goModCache is the module cache of the server's Go: GOMODCACHE, else
// GOPATH's, else ~/go's; "" when there is none.
func goModCache() string {
	p := os.Getenv("GOMODCACHE")
	if p == "" {
		gp := os.Getenv("GOPATH")
		if gp == "" {
			if h, err := os.UserHomeDir(); err == nil {
				gp = filepath.Join(h, "go")
			}
		}
		if gp != "" {
			p = filepath.Join(strings.Split(gp, string(os.PathListSeparator))[0], "pkg", "mod")
		}
	}
	if p == "" {
		return ""
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return ""
}

func envList(m map[string]string) []string {
	var env []string
	for _, k := range sortedKeys(m) {
		env = append(env, k+"="+m[k])
	}
	return env
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// cappedBuffer keeps the first max bytes written to it and drops the rest,
// so that a compiler printing without end cannot grow the server.
type cappedBuffer struct {
	bytes.Buffer
	max       int
	truncated bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room < len(p) {
		c.truncated = true
		if room > 0 {
			c.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return c.Buffer.Write(p)
}

func (c *cappedBuffer) String() string {
	if c.truncated {
		return c.Buffer.String() + "\n[output truncated]"
	}
	return c.Buffer.String()
}
