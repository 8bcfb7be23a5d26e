package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

// -deadline: what stopping a guest on time costs, each way side
// by side in one process and interleaved round by round: "none" (plain
// wazero, no check: a looping guest would never stop; the baseline),
// "wazero" (its WithCloseOnContextDone) and "instrument" (the check the
// engine compiles into the module, the default). Every way runs the same
// bytes the engine would compile (wasi.ModuleBytes) in plain wazero, so
// the ratios are the mechanism's alone.

// dlWay is one way of stopping a guest.
type dlWay struct {
	name   string
	rt     wazero.Runtime
	mode   string // for wasi.ModuleBytes
	interr bool   // arm the interrupt global
}

// dlWork is one workload of the table.
type dlWork struct {
	name, path string
	reps       int
	goal       float64 // instrument/none at most; 0: reported only
	config     func() wazero.ModuleConfig
}

// dlProgram is a workload compiled for one way.
type dlProgram struct {
	way      *dlWay
	compiled wazero.CompiledModule
}

// run instantiates p and runs _start (a Go reactor's _initialize and
// main) under ctx; an exit with code 0 is success.
func (p dlProgram) run(ctx context.Context, cfg wazero.ModuleConfig) error {
	mod, err := p.way.rt.InstantiateModule(ctx, p.compiled, cfg.WithName("").WithStartFunctions())
	if err != nil {
		return err
	}
	defer mod.Close(context.Background())
	if p.way.interr {
		g, ok := mod.ExportedGlobal(wasi.InterruptGlobal).(api.MutableGlobal)
		if !ok {
			return errors.New("no interrupt global")
		}
		defer context.AfterFunc(ctx, func() { g.Set(1) })()
	}
	if fn := mod.ExportedFunction("_start"); fn != nil {
		_, err = fn.Call(ctx)
	} else if _, err = mod.ExportedFunction("_initialize").Call(ctx); err == nil {
		// A Go program wasigate built as a driver (a reactor): the
		// runtime's init, then main; what a request without a snapshot
		// runs.
		_, err = mod.ExportedFunction(toolchain.GoRunExport).Call(ctx)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 0 {
		return nil
	}
	return err
}

func deadlineBench(ctx context.Context, repo string, o options, w io.Writer) (bool, error) {
	cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(o.cacheDir, "wazero-deadline"))
	if err != nil {
		return false, err
	}
	defer cache.Close(ctx)
	var ways []*dlWay
	for _, w := range []struct {
		name, mode string
		close      bool
	}{{"none", "none", false}, {"wazero", wasi.DeadlineWazero, true}, {"instrument", wasi.DeadlineInstrument, false}} {
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache).WithCloseOnContextDone(w.close))
		defer rt.Close(ctx)
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
			return false, err
		}
		ways = append(ways, &dlWay{name: w.name, rt: rt, mode: w.mode, interr: w.mode == wasi.DeadlineInstrument})
	}
	works, err := deadlineWorks(ctx, repo, o)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(w, "\nDeadlines: medians of %d rounds, the ways interleaved; instrument's ratio against none\n", o.rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tnone\twazero\tinstrument\tgoal\t")
	ok := true
	for _, wk := range works {
		progs, err := compileWays(ctx, ways, wk.path)
		if err != nil {
			return false, fmt.Errorf("%s: %w", wk.name, err)
		}
		times := make([][]float64, len(ways))
		for i, p := range progs { // warm up, untimed: the first run pays for page faults
			if err := p.run(ctx, wk.config()); err != nil {
				return false, fmt.Errorf("%s, %s: %w", wk.name, ways[i].name, err)
			}
		}
		for range o.rounds {
			for i, p := range progs {
				for range wk.reps {
					start := time.Now()
					if err := p.run(ctx, wk.config()); err != nil {
						return false, fmt.Errorf("%s, %s: %w", wk.name, ways[i].name, err)
					}
					times[i] = append(times[i], float64(time.Since(start)))
				}
			}
		}
		none := medianOf(times[0])
		cells := make([]string, len(ways))
		for i := range ways {
			m := medianOf(times[i])
			cells[i] = dur(m)
			if i > 0 {
				cells[i] += fmt.Sprintf(" (%.2fx)", m/none)
			}
		}
		verdict := "reported"
		if wk.goal > 0 {
			ratio := medianOf(times[2]) / none
			verdict = fmt.Sprintf("<= %.2fx: %s", wk.goal, passFail(ratio <= wk.goal))
			ok = ok && ratio <= wk.goal
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", wk.name, cells[0], cells[1], cells[2], verdict)
		closeAll(ctx, progs)
	}
	for _, guest := range []struct{ name, file string }{{"deadline to stop, loop", "loop.wasm"}, {"deadline to stop, fib(60)", "fib.wasm"}} {
		stopOK, line, err := stopTimes(ctx, ways, filepath.Join(repo, "testdata", "guests", guest.file), o.rounds*5)
		if err != nil {
			return false, fmt.Errorf("%s: %w", guest.name, err)
		}
		ok = ok && stopOK
		fmt.Fprintf(tw, "%s\t%s\t\n", guest.name, line)
	}
	tw.Flush()
	return ok, nil
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// stopTimes runs a guest that never ends under a 10 ms deadline, n times
// each way but none, and returns the table's cells: the median and the
// worst time from the deadline to Call's return. wazero's way checks at
// loops only, so a guest without loops (fib) is not run there: it would
// never stop.
func stopTimes(ctx context.Context, ways []*dlWay, path string, n int) (bool, string, error) {
	progs, err := compileWays(ctx, ways[1:], path)
	if err != nil {
		return false, "", err
	}
	defer closeAll(ctx, progs)
	cells := []string{""}
	ok := true
	for _, p := range progs {
		if p.way.mode == wasi.DeadlineWazero && filepath.Base(path) == "fib.wasm" {
			cells = append(cells, "never")
			continue
		}
		var late []float64
		for range n {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
			deadline, _ := rctx.Deadline()
			err := p.run(rctx, wazero.NewModuleConfig().WithStdout(io.Discard))
			late = append(late, float64(time.Since(deadline)))
			cancel()
			if err == nil {
				return false, "", errors.New("the guest ended on its own")
			}
		}
		worst := late[0]
		for _, l := range late {
			worst = max(worst, l)
		}
		cells = append(cells, fmt.Sprintf("%s (at most %s)", dur(medianOf(late)), dur(worst)))
		if p.way.interr {
			ok = worst <= float64(10*time.Millisecond)
		}
	}
	return ok, fmt.Sprintf("%s\t%s\t%s\t<= 10ms after the deadline: %s", cells[0], cells[1], cells[2], passFail(ok)), nil
}

// compileWays compiles the file at path for each way, as the engine would
// (wasi.ModuleBytes).
func compileWays(ctx context.Context, ways []*dlWay, path string) ([]dlProgram, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var progs []dlProgram
	for _, w := range ways {
		b, err := wasi.ModuleBytes(wasm, w.mode)
		if err == nil {
			var c wazero.CompiledModule
			if c, err = w.rt.CompileModule(ctx, b); err == nil {
				progs = append(progs, dlProgram{w, c})
				continue
			}
		}
		closeAll(ctx, progs)
		return nil, fmt.Errorf("%s: %w", w.name, err)
	}
	return progs, nil
}

func closeAll(ctx context.Context, progs []dlProgram) {
	for _, p := range progs {
		p.compiled.Close(ctx)
	}
}

// deadlineWorks lists the workloads whose guests are present: the C loop,
// Python's start-up (when samples/python is installed) and Go hello.
// Ruby's reactor needs the engine's host stubs and driver (ruby.go), which
// plain wazero lacks: BenchmarkDeadlineRuby in wasi measures it.
func deadlineWorks(ctx context.Context, repo string, o options) ([]dlWork, error) {
	plain := func() wazero.ModuleConfig {
		return wazero.NewModuleConfig().WithStdout(io.Discard).WithStderr(io.Discard)
	}
	works := []dlWork{{name: "C loop, 3x10^8 iterations", path: filepath.Join(repo, "testdata", "guests", "spin.wasm"), reps: 3, goal: 1.10, config: plain}}
	py := pythonDist(repo)
	if _, err := os.Stat(filepath.Join(py, "python.wasm")); err == nil {
		// The driver runs a script, never -c (samples/python/driver.c):
		// an empty one is the same start-up.
		dir := filepath.Join(o.cacheDir, "deadline-py")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "empty.py"), nil, 0o644); err != nil {
			return nil, err
		}
		works = append(works, dlWork{name: "Python start-up, empty script", path: filepath.Join(py, "python.wasm"), reps: 3, goal: 1.15, config: func() wazero.ModuleConfig {
			fs := wazero.NewFSConfig().WithReadOnlyDirMount(filepath.Join(py, "lib", "python3.11"), "/usr/local/lib/python3.11").WithReadOnlyDirMount(dir, "/cgi-bin")
			return plain().WithArgs("python", "/cgi-bin/empty.py").WithEnv("PYTHONDONTWRITEBYTECODE", "1").WithFSConfig(fs)
		}})
	}
	_, b, err := newEngine(ctx, o.cacheDir)
	if err != nil {
		return nil, err
	}
	res, err := b.Build(ctx, filepath.Join(repo, "samples", "scripts", "hello-go.go"))
	if err != nil {
		return nil, fmt.Errorf("build Go hello: %w", err)
	}
	works = append(works, dlWork{name: "Go hello, instantiate and run", path: res.Path, reps: 20, config: func() wazero.ModuleConfig {
		return plain().WithEnv("REQUEST_METHOD", "GET").WithEnv("PATH_INFO", "/x")
	}})
	return works, nil
}
