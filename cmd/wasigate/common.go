package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/cmd/internal/wire"
	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/router"
	"github.com/wasigate/wasigate/wasi"
	"github.com/wasigate/wasigate/wasi/seal"
	"github.com/wasigate/wasigate/wasi/toolchain"
)

func version() string { return host.Version }

// configFlags registers -c/--config on fs.
func configFlags(fs *flag.FlagSet) *string {
	p := new(string)
	fs.StringVar(p, "c", "", "configuration `file` (wasigate TOML or WAGI modules.toml)")
	fs.StringVar(p, "config", "", "same as -c")
	fs.BoolVar(&insecureCache, "insecure-cache", false, "accept a cache_dir another user owns or may write to (development only)")
	return p
}

// insecureCache is the --insecure-cache flag of the command being run
// (registered, and so reset, with -c).
var insecureCache bool

// errNoConfig is returned when no configuration was named or found.
var errNoConfig = errors.New("no configuration: pass -c FILE (or run from a folder with wasigate.toml or samples/wasigate.toml)")

// findConfig returns the configuration to use: the one named, else
// ./wasigate.toml, else the bundled samples/wasigate.toml so that a fresh
// clone serves its samples with no flags.
func findConfig(named string) (string, error) {
	if named != "" {
		return named, nil
	}
	for _, p := range []string{"wasigate.toml", filepath.Join("samples", "wasigate.toml")} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errNoConfig
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// newLogger logs human-readable lines on a terminal and JSON otherwise.
//
// Events come from many goroutines at once (compile workers, requests):
// the writer is serialised, so that events never interleave whatever w is.
func newLogger(w io.Writer) zerolog.Logger {
	zerolog.DurationFieldUnit = time.Millisecond
	zerolog.DurationFieldInteger = false
	if isTerminal(w) {
		return zerolog.New(zerolog.SyncWriter(zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"})).With().Timestamp().Logger()
	}
	return zerolog.New(zerolog.SyncWriter(w)).With().Timestamp().Logger()
}

// httpErrorLog is an http.Server's ErrorLog writing to log: what net/http
// reports itself (a failed TLS handshake, a panic, an accept error) would
// otherwise go to os.Stderr directly, a plain-text line in the JSON log
// written past its queue, between two of its write calls.
func httpErrorLog(log zerolog.Logger) *stdlog.Logger {
	return stdlog.New(log.With().Str(zerolog.LevelFieldName, zerolog.WarnLevel.String()).Str("source", "net/http").Logger(), "", 0)
}

// setup loads the configuration and creates the engine and builder.
type setup struct {
	cfg     *router.Config
	engine  *wasi.Engine
	builder *toolchain.Builder
	loader  router.Loader // wasi/cgi's, over engine and builder
	log     zerolog.Logger
	// cacheState says whether the cache folder passed its checks, for
	// wasigate check.
	cacheState string
	// cacheDir is the cache folder in use, which Build keeps out of every
	// guest's and page's reach.
	cacheDir string
}

func newSetup(ctx context.Context, configPath string, stderr io.Writer) (*setup, error) {
	path, err := findConfig(configPath)
	if err != nil {
		return nil, err
	}
	cfg, err := router.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	return newSetupFor(ctx, cfg, stderr)
}

// newSetupFor creates the engine and builder for a loaded configuration.
func newSetupFor(ctx context.Context, cfg *router.Config, stderr io.Writer) (*setup, error) {
	log := newLogger(stderr)
	slog.SetDefault(slog.New(zerologHandler{log: log}))
	for _, w := range cfg.Warnings {
		log.Warn().Msg(w)
	}
	srv := cfg.Server.Or(router.DefaultServer)
	cacheDir, cacheState, err := openCacheDir(cfg, srv.InsecureCache || insecureCache, log)
	if err != nil {
		return nil, err
	}
	parts, err := wire.New(ctx, wire.Settings{CacheDir: cacheDir, Server: srv, Log: log})
	if err != nil {
		return nil, err
	}
	return &setup{cfg: cfg, engine: parts.Engine, builder: parts.Builder, loader: parts.Loader(), log: log, cacheState: cacheState, cacheDir: cacheDir}, nil
}

// errNoCacheDir is returned when the configuration names no cache_dir and
// the user has no cache folder.
var errNoCacheDir = errors.New("no cache folder: set cache_dir in the configuration (HOME and XDG_CACHE_HOME are unset, and wasigate keeps no cache under /tmp)")

// openCacheDir resolves and creates the cache folder and checks that it
// is the server's alone, unless insecure is set, which is logged as a
// warning (cmd/wasigate/DECISIONS.md#the-cache-is-the-servers-alone-and-signed).
// It returns the folder and its state for check.
func openCacheDir(cfg *router.Config, insecure bool, log zerolog.Logger) (string, string, error) {
	dir := cfg.Abs(cfg.CacheDir)
	if dir == "" {
		if dir = wasi.DefaultCacheDir(); dir == "" {
			return "", "", fmt.Errorf("%s: %w", cfg.File, errNoCacheDir)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("cache_dir: %w", err)
	}
	if err := seal.CheckDir(dir); err != nil {
		if !insecure {
			return "", "", fmt.Errorf("%s: cache_dir %s refused: %w (fix the owner or mode, or pass --insecure-cache for development)", cfg.File, dir, err)
		}
		log.Warn().Err(err).Str("cache_dir", dir).Msg("insecure cache: using a cache folder others may write to")
		return dir, "INSECURE (" + err.Error() + ")", nil
	}
	return dir, fmt.Sprintf("private to uid %d", os.Getuid()), nil
}

func (s *setup) options(stderr io.Writer) router.Options {
	return router.Options{
		Loader:   s.loader,
		Log:      s.log,
		Progress: newProgress(s.log, stderr),
		CacheDir: s.cacheDir,
	}
}

// progress shows module loading: a line per module on a terminal while it
// compiles (a Go guest takes about a second, a 30 MB interpreter many), and
// one log event per module in any case.
type progress struct {
	log      zerolog.Logger
	terminal io.Writer // nil when not a terminal
	every    time.Duration
	mu       sync.Mutex
	start    map[string]time.Time
	stop     map[string]chan struct{}
}

// progressEvery is how often a terminal hears about a module that is still
// loading: a cold ruby.wasm (30 MB) takes 10 s and more to compile.
const progressEvery = 2 * time.Second

func newProgress(log zerolog.Logger, stderr io.Writer) *progress {
	p := &progress{log: log, every: progressEvery, start: map[string]time.Time{}, stop: map[string]chan struct{}{}}
	if isTerminal(stderr) {
		p.terminal = stderr
	}
	return p
}

func (p *progress) Start(name string, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := time.Now()
	p.start[name] = start
	if p.terminal == nil {
		return
	}
	fmt.Fprintf(p.terminal, "  loading %s (%s)...\n", relName(name), humanSize(size))
	stop := make(chan struct{})
	p.stop[name] = stop
	go func() {
		t := time.NewTicker(p.every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.mu.Lock()
				// Done closes stop under the lock: a tick that raced
				// with it must not print after the module's last line.
				select {
				case <-stop:
				default:
					fmt.Fprintf(p.terminal, "  still loading %s (building and compiling, %s so far)\n", relName(name), time.Since(start).Round(time.Second))
				}
				p.mu.Unlock()
			}
		}
	}()
}

func (p *progress) Done(name string, m seam.Module, err error) {
	p.mu.Lock()
	d := time.Since(p.start[name])
	if stop := p.stop[name]; stop != nil {
		close(stop)
		delete(p.stop, name)
	}
	p.mu.Unlock()
	if err != nil {
		p.log.Error().Str("module", relName(name)).Err(err).Msg("module failed to load")
		return
	}
	info := m.Info()
	how := "compiled"
	if info.Cached {
		how = "loaded from cache"
	}
	if p.terminal != nil {
		p.mu.Lock()
		code := ""
		if info.Code > 0 {
			code = ", " + humanSize(info.Code) + " machine code"
		}
		fmt.Fprintf(p.terminal, "  %s %s (%s wasm%s) in %s\n", how, relName(name), humanSize(int64(info.Size)), code, d.Round(time.Millisecond))
		p.mu.Unlock()
	}
	// code: bytes of machine code it holds until its programs run from
	// snapshots (each snapshot's own is in its "snapshot" event).
	p.log.Info().Str("module", relName(name)).Int("bytes", info.Size).Int64("code", info.Code).Bool("cached", info.Cached).
		Str("deadline", info.Deadline).Dur("compile", info.CompileTime).Dur("total", d).Msg("module ready")
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func relName(path string) string {
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, path); err == nil && len(r) < len(path) {
			return r
		}
	}
	return path
}

func init() {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		host.Version = bi.Main.Version
	}
}
