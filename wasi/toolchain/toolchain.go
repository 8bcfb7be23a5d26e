package toolchain

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wasigate/wasigate/wasi/seal"
)

// Builder builds sources into .wasm files under Dir. The zero value is not
// usable: Dir must be set.
type Builder struct {
	Dir string // where built modules are kept, by content hash
	// Limits bound each toolchain run; zero fields take DefaultLimits.
	Limits Limits
	// Sandbox confines toolchains (sandbox.go); nil means DetectSandbox's.
	Sandbox *Sandbox
	// Trusted lets builds run without a sandbox when none is available
	// ([server] trusted_builds): the compilers then read what the server's
	// user may read. Without it such builds fail with ErrNoSandbox.
	Trusted bool
	// GoCache is Go's build cache for builds, writable by them; empty
	// means Dir/go-build. It is wasigate's alone: never the user's own,
	// which other builds on the machine trust.
	GoCache string
	// Key signs the built modules kept in Dir; a module whose signature
	// does not match is removed and built again. Nil: no signatures.
	Key *seal.Key
	// MaxModuleSize is the largest module a build may produce ([server]
	// max_module_size); 0 means DefaultMaxModuleSize. A larger one is
	// refused with a TooLargeError and not kept.
	MaxModuleSize int64

	// slots, when not nil, are the build slots this Builder's builds take
	// instead of the Builder's own (WithSlots).
	slots     chan struct{}
	stateOnce sync.Once
	st        *buildState // shared with the Builders WithSlots makes
}

// buildState is what a Builder and those WithSlots makes from it share:
// the builds in flight, and the slots of builds that come without any.
type buildState struct {
	mu sync.Mutex
	// kept is held while a build's output is checked, removed or put in
	// place with its signature: two tenants may build one source at once,
	// and neither may see (and delete as tampered) the other's module
	// between its rename and its signature.
	kept     sync.Mutex
	inflight map[flightKey]*flight
	semOnce  sync.Once
	sem      chan struct{} // Limits.Concurrency slots
}

// flightKey names one build in flight: its content hash and the slots it
// waits for, so that a build queued behind one tenant's never makes
// another tenant's build of the same source wait with it.
type flightKey struct {
	slots chan struct{}
	key   string
}

// WithSlots returns a Builder with b's settings, cache and builds in
// flight that takes its build slots from slots rather than b's own
// Limits.Concurrency: give each tenant its own, so that one tenant's
// builds never hold the slots another tenant's wait for. Nil slots: b.
func (b *Builder) WithSlots(slots chan struct{}) *Builder {
	if slots == nil {
		return b
	}
	return &Builder{Dir: b.Dir, Limits: b.Limits, Sandbox: b.Sandbox, Trusted: b.Trusted,
		GoCache: b.GoCache, Key: b.Key, MaxModuleSize: b.MaxModuleSize, slots: slots, st: b.state()}
}

func (b *Builder) state() *buildState {
	b.stateOnce.Do(func() {
		if b.st == nil {
			b.st = &buildState{inflight: map[flightKey]*flight{}}
		}
	})
	return b.st
}

// acquire takes one of b's build slots and returns its release.
func (b *Builder) acquire(lim Limits) func() {
	sem := b.slots
	if sem == nil {
		st := b.state()
		st.semOnce.Do(func() { st.sem = make(chan struct{}, lim.Concurrency) })
		sem = st.sem
	}
	sem <- struct{}{}
	return func() { <-sem }
}

// BuildsFolder is the folder under Dir where built modules are kept.
const BuildsFolder = "builds"

type flight struct {
	done chan struct{}
	out  string
	err  error
}

// Result is a built module.
type Result struct {
	Path   string // the .wasm file
	Cached bool   // found in the build cache
	// Fallback: why a Go program was built with _start and not as the
	// reactor wasi snapshots (gosnap.go); "" otherwise.
	Fallback string
}

// Build returns a .wasm for the source at src, building it if the cache has
// none for its current content. A .wasm source is returned as it is.
func (b *Builder) Build(ctx context.Context, src string) (Result, error) {
	kind := KindOf(src)
	switch kind {
	case "":
		return Result{}, fmt.Errorf("build %s: not a script (want %s)", src, KindsText())
	case Wasm:
		return Result{Path: src, Cached: true}, nil
	}
	tool, err := toolFor(kind)
	if err != nil {
		return Result{}, err
	}
	key, err := hashSource(src, kind, tool)
	if err != nil {
		return Result{}, fmt.Errorf("build %s: %w", src, err)
	}
	out := filepath.Join(b.Dir, BuildsFolder, key+".wasm")
	if res, ok, err := b.cached(src, out); ok || err != nil {
		return res, err
	}

	// One build per content hash (and slots) at a time; others wait for it.
	st, fk := b.state(), flightKey{slots: b.slots, key: key}
	st.mu.Lock()
	if f, ok := st.inflight[fk]; ok {
		st.mu.Unlock()
		select {
		case <-f.done:
			if f.err != nil {
				return Result{}, f.err
			}
			return Result{Path: f.out, Fallback: readFallback(f.out)}, nil
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	st.inflight[fk] = f
	st.mu.Unlock()

	// The build itself is not tied to the first requester: a client that
	// goes away must not cancel the build others are waiting for.
	f.out, f.err = out, b.run(context.WithoutCancel(ctx), kind, tool, src, out)
	close(f.done)
	st.mu.Lock()
	delete(st.inflight, fk)
	st.mu.Unlock()
	if f.err != nil {
		return Result{}, f.err
	}
	return Result{Path: out, Fallback: readFallback(out)}, nil
}

// toolFor finds the compiler for kind.
func toolFor(kind Kind) (string, error) {
	var candidates []string
	var te ToolchainError
	switch kind {
	case Go:
		candidates = []string{"go", filepath.Join(goroot(), "bin", "go")}
		te = ToolchainError{Kind: kind, Tool: "go", Packages: "golang (or Go from go.dev)"}
	case C:
		candidates = []string{"clang"}
		te = ToolchainError{Kind: kind, Tool: "clang", Packages: "clang lld wasi-libc libclang-rt-dev-wasm32"}
	case WAT:
		candidates = []string{"wat2wasm"}
		te = ToolchainError{Kind: kind, Tool: "wat2wasm", Packages: "wabt"}
	case Rust:
		// Debian's rustc has the wasm32-wasi standard library; a rustup
		// rustc first on PATH often does not.
		candidates = []string{"/usr/bin/rustc", "rustc"}
		te = ToolchainError{Kind: kind, Tool: "rustc with the wasm32-wasi target", Packages: "rustc libstd-rust-dev-wasm32"}
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", &te
}

func goroot() string {
	if r := os.Getenv("GOROOT"); r != "" {
		return r
	}
	return "/usr/local/go"
}

// run builds src into out, atomically, in the sandbox and within the
// limits, in one of b's build slots.
func (b *Builder) run(ctx context.Context, kind Kind, tool, src, out string) error {
	lim := b.limits()
	sb := b.sandbox()
	if !sb.Available() && !b.Trusted {
		return &Error{Source: src, Err: ErrNoSandbox}
	}
	defer b.acquire(lim)()

	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return err
	}
	// A fresh output folder per build: the only place the tool may write
	// besides Go's build cache.
	tmpDir, err := os.MkdirTemp(filepath.Dir(out), "tmp-")
	if err != nil {
		return err
	}
	if tmpDir, err = filepath.Abs(tmpDir); err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)
	j, err := b.job(kind, tool, src, tmpDir)
	if err != nil {
		return &Error{Source: src, Err: err}
	}
	fallback := ""
	if kind == Go {
		rj, why, err := goReactorJob(j, src, tmpDir)
		if err != nil {
			return &Error{Source: src, Err: err}
		}
		if why == "" {
			err := b.exec(ctx, kind, src, rj, lim, sb)
			if err == nil {
				return b.keep(tmpDir, src, out, "")
			}
			why = fallbackReason(err)
		} else {
			why = "built with _start, not as a reactor: " + why
		}
		fallback = why
	}
	if err := b.exec(ctx, kind, src, j, lim, sb); err != nil {
		return err
	}
	return b.keep(tmpDir, src, out, fallback)
}

// exec runs one toolchain job (its pre step, then its own) within the
// limits: the timeout bounds both steps together.
func (b *Builder) exec(ctx context.Context, kind Kind, src string, j job, lim Limits, sb Sandbox) error {
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	if j.pre != nil {
		pj := j
		pj.argv, pj.pre = j.pre, nil
		if err := b.execStep(ctx, kind, src, pj, lim, sb); err != nil {
			return err
		}
	}
	return b.execStep(ctx, kind, src, j, lim, sb)
}

// execStep runs one command of a job.
func (b *Builder) execStep(ctx context.Context, kind Kind, src string, j job, lim Limits, sb Sandbox) error {
	argv := sb.command(j, lim)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = j.dir
	cmd.Env = envList(j.env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// The whole process group goes on the deadline, not just its leader.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	output := &cappedBuffer{max: maxBuildOutput}
	cmd.Stdout, cmd.Stderr = output, output
	runErr := cmd.Run()
	msg := strings.TrimSpace(output.String())
	if runErr != nil {
		return classify(ctx, kind, src, msg, runErr, lim)
	}
	return nil
}

func (b *Builder) sandbox() Sandbox {
	if b.Sandbox != nil {
		return *b.Sandbox
	}
	return DetectSandbox()
}

func (b *Builder) limits() Limits {
	l := b.Limits
	if l.Timeout <= 0 {
		l.Timeout = DefaultLimits.Timeout
	}
	if l.Memory <= 0 {
		l.Memory = DefaultLimits.Memory
	}
	if l.Concurrency <= 0 {
		l.Concurrency = DefaultLimits.Concurrency
	}
	return l
}
