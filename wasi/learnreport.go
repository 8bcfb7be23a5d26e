package wasi

import (
	"bytes"
	"context"
	"io"
	"path"
	"regexp"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasigate/wasigate/wasi/internal/guestfs"
	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// What a run may report of its imports (learn.go), and how the host
// checks it.
const (
	learnReportMax = 64 << 10 // bytes of one run's report
	learnLinesMax  = 1024     // lines of one report looked at
	learnNameMax   = 200      // bytes of one name
)

type learnKey struct{}

// learnReport is one run's report, set once.
type learnReport struct {
	mu   sync.Mutex
	data []byte
}

func (r *learnReport) get() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.data
}

func (r *learnReport) set(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.data == nil {
		r.data = bytes.Clone(b)
	}
}

type learnInitKey struct{}

// withInitLearn gives a snapshot's init somewhere to tell the learned
// names that failed to import.
func withInitLearn(ctx context.Context, in snap.Inputs) context.Context {
	if in.LearnFailed == nil {
		return ctx
	}
	return context.WithValue(ctx, learnInitKey{}, in.LearnFailed)
}

// instantiateLearn adds the wasigate_learn host module to rt.
func instantiateLearn(ctx context.Context, rt wazero.Runtime) error {
	i32 := api.ValueTypeI32
	_, err := rt.NewHostModuleBuilder(learnModuleName).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(learnWanted), nil, []api.ValueType{i32}).
		Export("wanted").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(learnReportFn), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		Export("report").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(learnFailedFn), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		Export("failed").
		Instantiate(ctx)
	return err
}

// WASI errnos the learn functions answer.
const (
	learnOK     = 0
	learnEFAULT = 21
	learnEFBIG  = 22
	learnENOSYS = 52
)

func learnWanted(ctx context.Context, _ api.Module, stack []uint64) {
	stack[0] = 0
	if _, ok := ctx.Value(learnKey{}).(*learnReport); ok {
		stack[0] = 1
	}
}

func learnReportFn(ctx context.Context, mod api.Module, stack []uint64) {
	r, _ := ctx.Value(learnKey{}).(*learnReport)
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	switch b, ok := mod.Memory().Read(ptr, n); {
	case r == nil:
		stack[0] = learnENOSYS
	case n > learnReportMax:
		stack[0] = learnEFBIG
	case !ok:
		stack[0] = learnEFAULT
	default:
		r.set(b)
		stack[0] = learnOK
	}
}

func learnFailedFn(ctx context.Context, mod api.Module, stack []uint64) {
	f, _ := ctx.Value(learnInitKey{}).(func(string))
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	switch b, ok := mod.Memory().Read(ptr, n); {
	case f == nil:
		stack[0] = learnENOSYS
	case n > learnNameMax:
		stack[0] = learnEFBIG
	case !ok:
		stack[0] = learnEFAULT
	default:
		f(string(b))
		stack[0] = learnOK
	}
}

var (
	pyName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)
	rubyName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$`)
	// rubyLib is where ruby.wasm's packed standard library is loaded from.
	rubyLib = regexp.MustCompile(`^/usr/local/lib/ruby/(?:(?:site|vendor)_ruby/)?[0-9.]+/(?:wasm32-wasi/)?`)
)

// validLearnName: a Python module's dotted name, or a Ruby library's
// require path.
func validLearnName(n string, ruby bool) bool {
	if len(n) == 0 || len(n) > learnNameMax {
		return false
	}
	if ruby {
		return rubyName.MatchString(n) && !strings.Contains(n, "..")
	}
	return pyName.MatchString(n) && n != "__main__"
}

// parseReport returns the names of a report worth learning: new (not in
// known), well formed, and from a file of the interpreter's read-only
// volumes under roots whose path matches the name (for Ruby, from its
// packed standard library).
func parseReport(data []byte, ruby bool, roots []string, mounts []guestfs.Mount, known map[string]bool) []string {
	if len(data) > learnReportMax {
		return nil
	}
	var names []string
	seen := map[string]bool{}
	for i, line := range strings.SplitN(string(data), "\n", learnLinesMax+1) {
		if i == learnLinesMax {
			break
		}
		var name string
		var ok bool
		if ruby {
			name, ok = rubyFeature(line, mounts, roots)
		} else {
			n, file, cut := strings.Cut(line, "\t")
			if cut && !known[n] && !seen[n] && validLearnName(n, false) {
				name, ok = n, pyOrigin(n, file, mounts, roots)
			}
		}
		if ok && !known[name] && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names
}

// pyOrigin: file is where module name was loaded from, a source or
// bytecode file (or a package's __init__) that exists in a read-only
// volume under roots.
func pyOrigin(name, file string, mounts []guestfs.Mount, roots []string) bool {
	if len(file) > 4096 || !strings.HasPrefix(file, "/") || path.Clean(file) != file {
		return false
	}
	rel := "/" + strings.ReplaceAll(name, ".", "/")
	if !strings.HasSuffix(file, rel+".py") && !strings.HasSuffix(file, rel+".pyc") &&
		!strings.HasSuffix(file, rel+"/__init__.py") && !strings.HasSuffix(file, rel+"/__init__.pyc") {
		return false
	}
	m := mountOf(file, mounts)
	if m == nil || m.Writable || m.Root == nil || !inRoots(m.Guest, roots) {
		return false
	}
	inside := strings.TrimPrefix(strings.TrimPrefix(file, m.Guest), "/")
	st, err := m.Root.Stat(inside)
	return err == nil && st.Mode().IsRegular()
}

// rubyFeature returns the require name of a $LOADED_FEATURES path of the
// packed standard library, which no volume hides (or which a read-only
// volume under roots provides).
func rubyFeature(file string, mounts []guestfs.Mount, roots []string) (string, bool) {
	loc := rubyLib.FindStringIndex(file)
	if loc == nil || !strings.HasSuffix(file, ".rb") || len(file) > 4096 || path.Clean(file) != file {
		return "", false
	}
	if m := mountOf(file, mounts); m != nil && (m.Writable || !inRoots(m.Guest, roots)) {
		return "", false
	}
	name := strings.TrimSuffix(file[loc[1]:], ".rb")
	return name, validLearnName(name, true)
}

// mountOf is the mount a guest path resolves to: the longest guest
// prefix.
func mountOf(file string, mounts []guestfs.Mount) *guestfs.Mount {
	var best *guestfs.Mount
	for i := range mounts {
		g := mounts[i].Guest
		if g == "/" || file == g || strings.HasPrefix(file, strings.TrimSuffix(g, "/")+"/") {
			if best == nil || len(g) > len(best.Guest) {
				best = &mounts[i]
			}
		}
	}
	return best
}

func inRoots(guest string, roots []string) bool {
	for _, r := range roots {
		if path.Clean(r) == path.Clean(guest) {
			return true
		}
	}
	return false
}

// Ruby reports through its $stderr: after the script, the host evaluates
// learnRubyReport while the run's stderr goes to the report instead
// (learnStderr). The prelude notes where $LOADED_FEATURES stood.
const (
	learnRubyStart  = "$__wasigate_features = $LOADED_FEATURES.size\n"
	learnRubyReport = "begin; $stderr.flush; n = $__wasigate_features; " +
		"$stderr.write($LOADED_FEATURES[n..].grep(String).join(\"\\n\")) if n.is_a?(Integer); $stderr.flush; rescue Exception; end\n"
)

// learnStderr is a run's stderr that a Ruby report can take over.
type learnStderr struct {
	w       io.Writer
	mu      sync.Mutex
	capture *bytes.Buffer
}

func (s *learnStderr) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.capture != nil {
		if s.capture.Len()+len(p) <= learnReportMax {
			s.capture.Write(p)
		}
		return len(p), nil
	}
	if s.w == nil {
		return len(p), nil
	}
	return s.w.Write(p)
}

// rubyLearnPrelude is what a learning Ruby run evaluates first.
func rubyLearnPrelude(ctx context.Context) string {
	if _, ok := ctx.Value(learnKey{}).(*learnReport); ok {
		return learnRubyStart
	}
	return ""
}

// rubyLearnReport captures, after the script returned, the features it
// loaded into the run's report.
func (p *Program) rubyLearnReport(g guestABI) {
	ctx := g.ctx
	r, ok := ctx.Value(learnKey{}).(*learnReport)
	s, sok := ctx.Value(learnStderrKey{}).(*learnStderr)
	if !ok || !sok {
		return
	}
	s.mu.Lock()
	s.capture = &bytes.Buffer{}
	s.mu.Unlock()
	err := g.rubyEval(p.ruby, learnRubyReport)
	s.mu.Lock()
	b := s.capture.Bytes()
	s.capture = nil
	s.mu.Unlock()
	if err == nil && len(b) > 0 {
		r.set(b)
	}
}

type learnStderrKey struct{}

// learnCall prepares a Ruby run's stderr for its report.
func learnCall(ctx context.Context, p *Program, c *Call) (context.Context, *Call) {
	if _, ok := ctx.Value(learnKey{}).(*learnReport); !ok || p.ruby == nil {
		return ctx, c
	}
	s := &learnStderr{w: c.Stderr}
	cc := *c
	cc.Stderr = s
	return context.WithValue(ctx, learnStderrKey{}, s), &cc
}

// rubyLearnedInit requires the learned names in a Ruby snapshot's init,
// after the operator's preloads: one that fails is told to the retake,
// which drops it.
func (m *Module) rubyLearnedInit(ctx context.Context, mod api.Module, in snap.Inputs) {
	rb := m.ruby()
	g := guestABI{ctx: ctx, mod: mod}
	for _, name := range in.Learned {
		err := g.rubyEval(rb, "require "+rubyHex(name)+"\n")
		if err != nil && in.LearnFailed != nil {
			in.LearnFailed(name)
		}
	}
}
