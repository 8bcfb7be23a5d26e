package router

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
)

// interpreter is a loaded [[interpreter]].
type interpreter struct {
	Interpreter
	path string
	mod  seam.Module
	err  error        // not installed: its scripts answer 500 with this
	vols []seam.Mount // its own read-only volumes (interpreter.go)
	env  []string     // its own environment, added to each request's
}

// MissingInterpreterError is the answer for a script whose interpreter
// module is not installed.
type MissingInterpreterError struct {
	Ext, Module, Install string
}

func (e *MissingInterpreterError) Error() string {
	msg := fmt.Sprintf("no interpreter for %s scripts: %s is not installed", e.Ext, e.Module)
	if e.Install != "" {
		msg += " (install it with: " + e.Install + ")"
	}
	return msg
}

// loadInterpreters compiles the configured interpreters when a scripts
// route may use them. A missing module fails the start, naming it and its
// install command, unless the interpreter is optional: then the site
// serves its other scripts before, say, Ruby is installed, and that
// interpreter's scripts answer 500 naming the install command. A module
// that is there but broken fails the start, like any route's module.
func loadInterpreters(ctx context.Context, cfg *Config, opts Options) (map[string]*interpreter, []error) {
	out := map[string]*interpreter{}
	// Checked here, not in Validate: the loader knows which extensions are
	// sources it builds; router keeps no list of its own.
	var errs []error
	for i, in := range cfg.Interpreters {
		if opts.Loader.SourceKind("script"+in.Ext) != "" {
			errs = append(errs, fmt.Errorf("%w: %s: interpreter #%d %q: %s scripts are built, not interpreted", ErrConfig, cfg.File, i+1, in.Ext, in.Ext))
		}
	}
	if len(errs) > 0 {
		return out, errs
	}
	used := false
	for _, rt := range cfg.Routes {
		used = used || rt.Scripts != ""
	}
	if !used {
		return out, nil
	}
	for i, in := range cfg.Interpreters {
		it := &interpreter{Interpreter: in, path: cfg.Abs(in.Module)}
		out[in.Ext] = it
		if _, err := os.Stat(it.path); errors.Is(err, fs.ErrNotExist) {
			it.err = &MissingInterpreterError{Ext: in.Ext, Module: in.Module, Install: in.Install}
			if !in.Optional {
				errs = append(errs, fmt.Errorf("%w: %s: interpreter #%d %q: %w; or set optional = true to serve the other scripts without it", ErrConfig, cfg.File, i+1, in.Ext, it.err))
				continue
			}
			opts.Log.Warn().Str("ext", in.Ext).Str("module", in.Module).Str("install", in.Install).
				Msg("interpreter not installed: its scripts will answer 500")
			continue
		}
		vols, err := interpreterVolumes(cfg, in)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: interpreter #%d %q: %w", cfg.File, i+1, in.Ext, err))
			continue
		}
		it.vols, it.env = vols, interpreterEnv(in)
		mod, err := LoadModule(ctx, it.path, opts)
		if err == nil && mod.Kind() == seam.KindOther {
			err = notInterpreter(mod)
		}
		if err == nil && mod.Kind() == seam.KindRuby && len(in.Args) > 0 {
			err = errors.New("args: ruby.wasm gets its options from the server, not from args")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: interpreter #%d %q: module %s: %w", cfg.File, i+1, in.Ext, in.Module, err))
			continue
		}
		it.mod = mod
	}
	return out, errs
}

// notInterpreter says why mod runs no script: a module that exports
// wasigate_run but not the rest of the driver ABI is told what it lacks,
// not that it exports none of the entry points.
func notInterpreter(mod seam.Module) error {
	if !mod.HasExport("wasigate_run") {
		return errors.New("exports neither _start (a command), wasigate_run (a driver) nor ruby-init (ruby.wasm)")
	}
	var missing []string
	for _, name := range []string{"_initialize", "wasigate_init"} {
		if !mod.HasExport(name) {
			missing = append(missing, name)
		}
	}
	return fmt.Errorf("exports wasigate_run but not %s: a driver is a reactor exporting _initialize, wasigate_init and wasigate_run", strings.Join(missing, " or "))
}

// interpreterRunner runs a script with its interpreter, like a "#!" line:
// argv is the interpreter, its configured options, the script's path, then
// the CGI arguments: a request's words always follow the script, so they
// are the script's arguments, never the interpreter's options. An
// interpreter with scratch gets its fresh /tmp from its Program.
type interpreterRunner struct {
	prog          seam.Program
	argv0, script string
	opts, env     []string // the [[interpreter]]'s args and environment
}

func (r interpreterRunner) Run(ctx context.Context, inv *host.Invocation) error {
	args := make([]string, 0, 2+len(r.opts)+len(inv.Args))
	args = append(append(append(args, r.argv0), r.opts...), r.script)
	if len(inv.Args) > 1 {
		args = append(args, inv.Args[1:]...)
	}
	inv.Args = args
	if len(r.env) > 0 {
		inv.Env = append(inv.Env[:len(inv.Env):len(inv.Env)], r.env...)
	}
	return r.prog.Run(ctx, inv)
}
