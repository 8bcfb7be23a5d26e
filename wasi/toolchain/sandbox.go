package toolchain

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// Limits bound one toolchain run
// (cmd/wasigate/DECISIONS.md#builds-run-sandboxed-and-bounded). Zero fields
// take DefaultLimits.
type Limits struct {
	Timeout time.Duration // wall clock of the whole build; also its CPU time
	Memory  int64         // address space of each process, and the size of each file it writes
	// Concurrency is how many builds run at once in the Builder's own
	// slots (not those of a Builder from WithSlots).
	Concurrency int
}

// DefaultLimits are a build's limits when none are configured.
var DefaultLimits = Limits{Timeout: seam.DefaultBuildTimeout, Memory: seam.DefaultBuildMemory, Concurrency: seam.DefaultBuildConcurrency}

// buildProcesses caps the processes (RLIMIT_NPROC) of a build: go starts a
// compile and a link per package, clang a linker; none starts many.
const buildProcesses = 256

// maxBuildOutput is how much of a compiler's stdout and stderr is kept.
const maxBuildOutput = 64 << 10

// Errors of builds stopped by a limit; a build Error wraps them.
var (
	ErrBuildTimeout = errors.New("build ran past build_timeout")
	ErrBuildMemory  = errors.New("build ran out of build_memory")
	ErrBuildOutput  = errors.New("build wrote a file larger than build_memory")
)

// ErrNoSandbox is returned for a build when no sandbox can be made and
// the operator did not trust builds.
var ErrNoSandbox error = noSandboxError{}

type noSandboxError struct{}

func (noSandboxError) Error() string {
	return "no build sandbox: install bubblewrap and util-linux (Debian: apt-get install bubblewrap util-linux), or set [server] trusted_builds = true to build scripts unsandboxed"
}

// Toolchain reports that the error is about the machine, not the source:
// a server may show its text to clients (see ToolchainError.Toolchain).
func (noSandboxError) Toolchain() bool { return true }

// Sandbox runs toolchains under bubblewrap with rlimits set by prlimit.
// The zero value is no sandbox.
type Sandbox struct {
	Bwrap   string // path of bwrap; empty when missing or unusable
	Prlimit string // path of prlimit (util-linux)
	Problem string // why there is no sandbox, for wasigate check
}

var (
	probeOnce sync.Once
	probed    Sandbox
)

// DetectSandbox finds bwrap and prlimit and checks once per process that
// bwrap can create a sandbox here (containers often forbid namespaces).
func DetectSandbox() Sandbox {
	probeOnce.Do(func() {
		pl, err := exec.LookPath("prlimit")
		if err != nil {
			probed.Problem = "prlimit not found (Debian: apt-get install util-linux)"
		}
		probed.Prlimit = pl
		bw, err := exec.LookPath("bwrap")
		if err != nil {
			probed.Problem = "bwrap not found (Debian: apt-get install bubblewrap)"
			return
		}
		args := append(baseArgs(), "--", "/usr/bin/true")
		if out, err := exec.Command(bw, args...).CombinedOutput(); err != nil {
			probed.Problem = fmt.Sprintf("bwrap cannot create a sandbox here: %v: %s", err, strings.TrimSpace(string(out)))
			return
		}
		if pl != "" {
			probed.Bwrap = bw
		}
	})
	return probed
}

// Available reports whether builds can be sandboxed.
func (s Sandbox) Available() bool { return s.Bwrap != "" && s.Prlimit != "" }

// String describes the sandbox for wasigate check.
func (s Sandbox) String() string {
	if s.Available() {
		return "bubblewrap (" + s.Bwrap + ") with rlimits from " + s.Prlimit
	}
	return "none: " + s.Problem
}

// baseArgs are bwrap's arguments for every toolchain: its own namespaces
// (no network, no other processes), a new session (no TIOCSTI into the
// server's terminal), death with wasigate, an empty environment, and a
// file system of /usr/bin and /usr/lib only (read-only): no /etc, /home,
// /root, /tmp or /proc of the host.
func baseArgs() []string {
	a := []string{
		"--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
		"--ro-bind", "/usr/bin", "/usr/bin",
		"--ro-bind", "/usr/lib", "/usr/lib",
		"--dev", "/dev",
	}
	for _, d := range []string{"/usr/lib64", "/usr/libexec"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			a = append(a, "--ro-bind", d, d)
		}
	}
	// Merged-/usr systems link /bin, /lib and /lib64 into /usr; the
	// dynamic loader is found through them.
	for _, d := range []string{"/bin", "/lib", "/lib64"} {
		if t, err := os.Readlink(d); err == nil {
			a = append(a, "--symlink", t, d)
		} else if st, err := os.Stat(d); err == nil && st.IsDir() {
			a = append(a, "--ro-bind", d, d)
		}
	}
	return a
}

// job is one toolchain run, described independently of how it is
// confined: the sandbox turns it into bwrap's arguments; a trusted build
// runs it as is.
type job struct {
	argv []string          // argv[0] is the tool's path
	pre  []string          // if set, run first, in the same sandbox (C's compile step)
	env  map[string]string // the whole environment, named per toolchain
	dir  string            // working folder (host path)
	ro   []string          // host folders and files the tool may read
	rw   []string          // host folders it may write (the output folder, Go's build cache)
	// exe, when set, is what /proc/self/exe says inside the sandbox:
	// rustc finds its sysroot through it, and no real /proc is mounted
	// (it would hold the tool's environment and the host's state).
	exe string
}

// command returns prlimit's and bwrap's argv for j, or j's own argv when
// the sandbox is not available (a trusted build).
func (s Sandbox) command(j job, lim Limits) []string {
	var argv []string
	if s.Prlimit != "" {
		cpu := int64(lim.Timeout/time.Second) + 1
		argv = append(argv, s.Prlimit,
			"--as="+strconv.FormatInt(lim.Memory, 10),
			"--fsize="+strconv.FormatInt(lim.Memory, 10),
			"--cpu="+strconv.FormatInt(cpu, 10),
			"--nproc="+strconv.Itoa(buildProcesses),
			"--core=0", "--")
	}
	if !s.Available() {
		return append(argv, j.argv...)
	}
	argv = append(argv, s.Bwrap)
	argv = append(argv, baseArgs()...)
	seen := map[string]bool{}
	for _, p := range j.ro {
		if !seen[p] && !under(p, "/usr/bin", "/usr/lib") {
			argv = append(argv, "--ro-bind", p, p)
		}
		seen[p] = true
	}
	for _, p := range j.rw {
		argv = append(argv, "--bind", p, p)
	}
	if j.exe != "" {
		argv = append(argv, "--dir", "/proc/self", "--symlink", j.exe, "/proc/self/exe")
	}
	for _, k := range sortedKeys(j.env) {
		argv = append(argv, "--setenv", k, j.env[k])
	}
	argv = append(argv, "--chdir", j.dir, "--")
	return append(argv, j.argv...)
}

// under reports whether p is one of roots or inside one.
func under(p string, roots ...string) bool {
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

// realDir is the folder of the real file behind path (a toolchain found
// through a symbolic link is bound where it really is).
func realDir(path string) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return filepath.Dir(r)
	}
	return filepath.Dir(path)
}
