package wasi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasigate/wasigate/wasi/internal/snap"
)

// Ruby from a snapshot
// (cmd/wasigate/DECISIONS.md#interpreters-start-from-a-snapshot-of-their-start-up):
// the snapshot's init is _initialize,
// then ruby-init with the fixed interpreter options (rubyInitLine, not a
// script's argv), then `require` of each name in the interpreter's preload
// list. That is nearly all of the ~245 ms a request cost.
//
// What the init froze and a request must not see is put right by
// rubyPrelude before the script is loaded: the generator is reseeded from
// WASI random_get, ARGV, $0 and ENV are the request's. Ruby reads its
// environment in ruby-init; it is frozen empty, and ENV.replace (setenv
// and unsetenv in wasi-libc, so getenv agrees) gives the request's.
//
// Frozen and not reseeded: Ruby's hash seed (String#hash, the order of
// nothing visible, but the values of #hash) is the same in every request
// of one snapshot, as are the values the preloaded libraries computed when
// loaded.

// rubyInitLine is the command line ruby-init gets in the snapshot: the
// interpreter options and an empty program (-e), so no script is read.
func rubyInitLine() []string {
	line := append([]string{"ruby"}, rubyArgs...)
	return append(line, "-e_=0")
}

// rubyInit runs ruby-init and the preloads in an instance that ran
// _initialize: the init of a Ruby snapshot.
func (m *Module) rubyInit(ctx context.Context, mod api.Module, preload []string) error {
	rb := m.ruby()
	g := guestABI{ctx: ctx, mod: mod}
	line := rubyInitLine()
	list, err := g.stringList(line)
	if err != nil {
		return err
	}
	if _, err := g.fn(rb.init).Call(ctx, uint64(list), uint64(len(line))); err != nil {
		return fmt.Errorf("ruby-init: %w", err)
	}
	for _, name := range preload {
		if err := g.rubyEval(rb, "require "+rubyHex(name)+"\n"); err != nil {
			return fmt.Errorf("preload %q: %w", name, err)
		}
	}
	return nil
}

// rubyHeadroom is the free memory a Ruby snapshot's allocator holds for
// its requests. A snapshot is taken with the heap as full as the init left
// it, so the first allocations of nearly every request grew the memory
// (by 128 KiB for a CGI script using cgi): a reused instance whose memory
// grew cannot be reset (wazero cannot shrink a memory) and was thrown away
// after every request. Pages never written cost nothing in the image.
const rubyHeadroom = 8 << 20

// rubyReserve ends a Ruby snapshot's init by growing the allocator's free
// memory by up to rubyHeadroom, within limit (the memory's bound, less
// what the init uses and a mebibyte for the requests' own growth): one
// allocation through cabi_realloc (malloc), shrunk back by realloc to one
// byte, which gives the rest to malloc's free space. wasi-libc's malloc
// never hands memory back (WebAssembly memories do not shrink), so the
// space stays in the image, zero and untouched.
func (m *Module) rubyReserve(ctx context.Context, mod api.Module, limit uint64) error {
	mem := mod.Memory()
	if mem == nil {
		return nil
	}
	size := uint64(mem.Size())
	n := uint64(rubyHeadroom)
	if size+n+(1<<20) > limit {
		if size+(2<<20) > limit {
			return nil
		}
		n = limit - size - (1 << 20)
	}
	g := guestABI{ctx: ctx, mod: mod}
	ptr, err := g.alloc(16, uint32(n))
	if err != nil {
		return err
	}
	if _, err := g.fn("cabi_realloc").Call(ctx, uint64(ptr), n, 16, 1); err != nil {
		return fmt.Errorf("cabi_realloc: %w", err)
	}
	return nil
}

// errRubyException is the result of an evaluation that raised.
var errRubyException = errors.New("ruby: uncaught exception")

// rubyEval evaluates code; an exception that escaped it is an error.
func (g guestABI) rubyEval(rb *rubyExports, code string) error {
	ptr, n, err := g.cString(code)
	if err != nil {
		return err
	}
	res, err := g.fn(rb.eval).Call(g.ctx, uint64(ptr), uint64(n))
	if err != nil {
		return err
	}
	mod := g.mod
	// The result is a pointer to (handle, state): a non-zero state is an
	// exception.
	state, ok := mod.Memory().ReadUint32Le(uint32(res[0]) + 4)
	if !ok {
		return errors.New("ruby: eval result out of bounds")
	}
	if state != 0 {
		return fmt.Errorf("%w (state %d)", errRubyException, state)
	}
	return nil
}

// rubyHex is a Ruby expression for the string s: its bytes in hex, unpacked
// by the guest. A request's values are attacker-controlled, so they never
// reach Ruby's parser as source: hex has no quote, backslash, #{} or
// newline to escape, and no byte the parser might reject as invalid UTF-8.
// The string gets the external encoding, as ARGV and ENV values have.
func rubyHex(s string) string {
	return "['" + hex.EncodeToString([]byte(s)) + "'].pack('H*').force_encoding(Encoding.default_external)"
}

// rubyPrelude is what a request from a snapshot evaluates before
// rubyBootstrap: a fresh seed for rand (Random.new_seed reads random_get),
// the request's ENV, and ARGV (the script's path, then its arguments;
// the bootstrap moves the path to $0, which $PROGRAM_NAME is), then it
// enters the folder in PWD.
func rubyPrelude(args, env []string) string {
	var b strings.Builder
	b.WriteString("srand(Random.new_seed)\nENV.replace({")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		b.WriteString(rubyHex(k) + "=>" + rubyHex(v) + ",")
	}
	b.WriteString("})\nARGV.replace([")
	for _, a := range args {
		b.WriteString(rubyHex(a) + ",")
	}
	b.WriteString("])\n")
	// The script's folder, which the host passes in PWD, is its working
	// directory: wasi-libc's starts at "/" and does not read PWD.
	b.WriteString("begin; d = ENV['PWD']; Dir.chdir(d) if d && d.start_with?('/'); " +
		"rescue SystemCallError => e; $stderr.puts(\"ruby prelude: can't enter PWD: #{e.message}\"); end\n")
	return b.String()
}

// keyedSnap is one of ruby.wasm's or a driver's snapshots, taken once.
type keyedSnap struct {
	once sync.Once
	snap *snapshot
	err  error
	src  *snapSrc // its retakes (snapage.go); snap is the newest
}

// keyedSnapshot returns ruby.wasm's or a driver's snapshot for in, taken
// the first time a program asks for it.
func (m *Module) keyedSnapshot(limit uint64, in snap.Inputs, c Config) (*snapshot, error) {
	if !m.snap.reactor {
		return nil, fmt.Errorf("%w: not a reactor", ErrNoSnapshot)
	}
	m.snap.keyedMu.Lock()
	if m.snap.keyed == nil {
		m.snap.keyed = map[string]*keyedSnap{}
	}
	r := m.snap.keyed[in.Key()]
	if r == nil {
		r = &keyedSnap{}
		m.snap.keyed[in.Key()] = r
	}
	m.snap.keyedMu.Unlock()
	r.once.Do(func() {
		r.snap, r.src, r.err = m.firstSnapshot(limit, in, c)
		if r.src == nil {
			return
		}
		// r.snap follows the retakes: closeSnapshot closes it as the
		// current one, and the source closes only the replaced ones. Left
		// on the first, that one was closed twice (its shared compiled
		// module with it, under the other modules running it) and the
		// current one never.
		r.src.mu.Lock()
		r.src.swapped = func(n *snapshot) {
			m.snap.keyedMu.Lock()
			r.snap = n
			m.snap.keyedMu.Unlock()
		}
		r.src.mu.Unlock()
	})
	m.snap.keyedMu.Lock() // a retake replaces snap
	defer m.snap.keyedMu.Unlock()
	return r.snap, r.err
}
