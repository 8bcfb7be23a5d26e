package wasi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/tetratelabs/wazero/api"
)

// The Ruby interpreter kind: ruby.wasm's reactor build (the npm package
// @ruby/3.4-wasm-wasi, ruby+stdlib.wasm) has no _start. It is made for a
// JavaScript host that calls its component-model exports through the
// canonical ABI, so wasigate drives it itself: per request a fresh instance
// runs _initialize (which mounts the stdlib packed inside the module),
// ruby-init with a command line, then rb-eval-string-protect with a small
// bootstrap that loads the script named by argv[1].
//
// The module also imports functions for its JavaScript interop (the "js"
// library) from rb-js-abi-host and resource handles from canonical_abi.
// The host provides stubs: handles are plain integers, and every JS call
// traps with a message, since there is no JavaScript here.

// rubyHostModules are the import modules the stubs stand in for.
var rubyHostModules = []string{"rb-js-abi-host", "canonical_abi"}

// rubyArgs are the interpreter options ruby-init gets before the script's
// arguments. RubyGems is off: loading it costs about 300 ms per request; a
// script can still require "rubygems" itself.
var rubyArgs = []string{"-EUTF-8", "--disable-gems"}

// rubyBootstrap is evaluated after ruby-init. ARGV holds the script's path
// then its arguments. exit! ends the instance through proc_exit, so the
// script's exit status becomes the guest's; $stdout is buffered and must be
// flushed first (at_exit handlers do not run: the VM is never torn down).
const rubyBootstrap = `begin
  $0 = ARGV.shift
  load $0
rescue SystemExit => e
  $stdout.flush rescue nil
  exit!(e.status) if e.status != 0
rescue Exception => e
  $stdout.flush rescue nil
  $stderr.write(e.full_message(highlight: false))
  exit!(1)
end
$stdout.flush
`

// rubyExports are the full export names of ruby.wasm's ABI: each carries
// its component-model signature, as in "ruby-init: func(args: list<string>) -> ()".
type rubyExports struct {
	init, eval string
}

// ruby returns the module's Ruby ABI exports, or nil when it is not a Ruby
// reactor.
func (m *Module) ruby() *rubyExports {
	var r rubyExports
	for name := range m.compiled.ExportedFunctions() {
		base, _, _ := strings.Cut(name, ":")
		switch base {
		case "ruby-init":
			r.init = name
		case "rb-eval-string-protect":
			r.eval = name
		}
	}
	if r.init == "" || r.eval == "" || !m.HasExport("cabi_realloc") {
		return nil
	}
	return &r
}

// provideRubyStubs instantiates the stub host modules m imports, once per
// engine. A later module whose imports the stubs lack is refused here
// rather than failing on every request.
func (e *Engine) provideRubyStubs(ctx context.Context, m *Module) error {
	e.stubMu.Lock()
	defer e.stubMu.Unlock()
	for _, hostName := range rubyHostModules {
		var imports []api.FunctionDefinition
		for _, imp := range m.compiled.ImportedFunctions() {
			if mod, _, _ := imp.Import(); mod == hostName {
				imports = append(imports, imp)
			}
		}
		if existing := m.rt.Module(hostName); existing != nil {
			defs := existing.ExportedFunctionDefinitions()
			for _, imp := range imports {
				_, name, _ := imp.Import()
				def, ok := defs[name]
				if !ok || !sameTypes(def, imp) {
					return fmt.Errorf("%s imports %s.%s, which the stubs made for another Ruby build lack", m.Name, hostName, name)
				}
			}
			continue
		}
		b := m.rt.NewHostModuleBuilder(hostName)
		for _, imp := range imports {
			_, name, _ := imp.Import()
			b.NewFunctionBuilder().
				WithGoModuleFunction(rubyStub(hostName, name), imp.ParamTypes(), imp.ResultTypes()).
				Export(name)
		}
		if _, err := b.Instantiate(ctx); err != nil {
			return fmt.Errorf("ruby host stubs %s: %w", hostName, err)
		}
		e.ProvideHostModule(hostName)
	}
	return nil
}

func sameTypes(a, b api.FunctionDefinition) bool {
	return string(a.ParamTypes()) == string(b.ParamTypes()) && string(a.ResultTypes()) == string(b.ResultTypes())
}

// rubyStub returns the host function for one import. Resource handles are
// the guest's own values (new and get are the identity, drop does
// nothing): the host never holds Ruby objects.
func rubyStub(module, name string) api.GoModuleFunc {
	switch {
	case module == "canonical_abi" && (strings.HasPrefix(name, "resource_new_") || strings.HasPrefix(name, "resource_get_")):
		return func(ctx context.Context, mod api.Module, stack []uint64) {} // result = first parameter, already in place
	case module == "canonical_abi":
		return func(ctx context.Context, mod api.Module, stack []uint64) {
			for i := range stack {
				stack[i] = 0
			}
		}
	}
	base, _, _ := strings.Cut(name, ":")
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		panic(fmt.Errorf("%s.%s: %w", module, base, ErrJSInterop))
	}
}

// runRuby drives an initialized Ruby instance: args are the command line
// as a command-style interpreter gets it (argv[0], the script, its
// arguments).
//
// The same code runs in a fresh instance and in a reused one (reuse.go):
// everything a request's Ruby code can change (globals, ENV, $stdout, the
// generator, the working directory, the loaded features) lives in the
// instance's memory and globals, which the reset puts back, or in its
// open files, which end the reuse unless closed.
func (p *Program) runRuby(g guestABI, args []string) error {
	if len(args) < 2 {
		return errors.New("ruby: no script in argv[1]")
	}
	if p.snap != nil {
		// ruby-init ran in the snapshot (rubysnap.go).
		var env []string
		if e, ok := g.ctx.Value(environKey{}).(*environ); ok {
			env = e.vars
		}
		if err := g.rubyEval(p.ruby, rubyLearnPrelude(g.ctx)+rubyPrelude(args[1:], env)+rubyBootstrap); err != nil {
			return err
		}
		p.rubyLearnReport(g) // learnreport.go
		return nil
	}
	line := append([]string{"ruby"}, rubyArgs...)
	line = append(line, "-e_=0", "--")
	line = append(line, args[1:]...)
	list, err := g.stringList(line)
	if err != nil {
		return err
	}
	if _, err := g.fn(p.ruby.init).Call(g.ctx, uint64(list), uint64(len(line))); err != nil {
		return err
	}
	return g.rubyEval(p.ruby, rubyBootstrap)
}

// guestABI writes canonical-ABI values into a guest's memory, allocating
// with its cabi_realloc export, and calls its exports.
type guestABI struct {
	ctx context.Context
	mod api.Module
	// fns, when not nil, finds the exports: a reused instance keeps them
	// (warmcall.go); else each is looked up anew.
	fns func(string) api.Function
}

// fn returns the export name, which the Ruby ABI check found.
func (g guestABI) fn(name string) api.Function {
	if g.fns != nil {
		return g.fns(name)
	}
	return g.mod.ExportedFunction(name)
}

func (g guestABI) alloc(align, size uint32) (uint32, error) {
	res, err := g.fn("cabi_realloc").Call(g.ctx, 0, 0, uint64(align), uint64(size))
	if err != nil {
		return 0, fmt.Errorf("cabi_realloc: %w", err)
	}
	return uint32(res[0]), nil
}

// cString copies s with a terminating NUL (ruby.wasm passes the bytes on
// as C strings) and returns its address and length.
func (g guestABI) cString(s string) (uint32, uint32, error) {
	n := uint32(len(s) + 1)
	ptr, err := g.alloc(1, n)
	if err != nil {
		return 0, 0, err
	}
	if !g.mod.Memory().Write(ptr, append([]byte(s), 0)) {
		return 0, 0, errors.New("string out of bounds")
	}
	return ptr, n, nil
}

// stringList writes a list<string>: an array of (address, length) pairs.
func (g guestABI) stringList(ss []string) (uint32, error) {
	list, err := g.alloc(4, uint32(8*len(ss)))
	if err != nil {
		return 0, err
	}
	pairs := make([]byte, 8*len(ss))
	for i, s := range ss {
		ptr, n, err := g.cString(s)
		if err != nil {
			return 0, err
		}
		binary.LittleEndian.PutUint32(pairs[8*i:], ptr)
		binary.LittleEndian.PutUint32(pairs[8*i+4:], n)
	}
	if !g.mod.Memory().Write(list, pairs) {
		return 0, errors.New("list out of bounds")
	}
	return list, nil
}
