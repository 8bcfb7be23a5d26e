package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wasigate/wasigate/cmd/internal/logbuf"
	"github.com/wasigate/wasigate/router"
	"github.com/wasigate/wasigate/wasi/tune"
)

func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := configFlags(fs)
	var listen string
	fs.StringVar(&listen, "l", "", "listen `address` (default: the config's listen, else 127.0.0.1:8080)")
	fs.StringVar(&listen, "listen", "", "same as -l")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *config, listen, stdout, stderr, nil); err != nil {
		fmt.Fprintln(stderr, "wasigate:", err)
		return 1
	}
	return 0
}

// serve runs the server until ctx is done, then shuts it down gracefully.
// ready, if not nil, receives the listening address once serving.
func serve(ctx context.Context, configPath, listen string, stdout, stderr io.Writer, ready chan<- string) error {
	// The log (an access-log event per request) goes through a queue
	// written in batches by one goroutine, rather than a write call on
	// each request's path. Closed last of all, after "stopped" or the
	// error's events, and before the caller prints the error: nothing
	// queued is lost. A terminal is written directly, for its reader.
	logOut := stderr
	if !isTerminal(stderr) {
		lb := logbuf.New(stderr, logbuf.DefaultLimit)
		defer lb.Close()
		logOut = lb
	}
	s, err := newSetup(ctx, configPath, logOut)
	if err != nil {
		return err
	}
	defer s.engine.Close(context.Background())
	cfg := s.cfg
	srv := cfg.Server.Or(router.DefaultServer)
	// The collector's settings, once for the process's life: each change
	// stops the world, which waits for every running guest.
	gc := tune.GC(os.Getenv, int64(srv.MemoryLimit))
	go tune.ReleaseWhenIdle(ctx, tune.IdleInterval)
	// The site, its reloads, metrics and the admin listener: reload.go.
	ops, err := startOps(ctx, s, stderr)
	if err != nil {
		return err
	}

	// Loading compiled modules and taking snapshots leaves some hundreds
	// of MiB of garbage (decoded modules, the compiler's scratch, the
	// rewritten bytes), which the runtime would otherwise keep mapped
	// until the heap grew to it again: give it back now, once.
	debug.FreeOSMemory()

	if listen == "" {
		listen = cfg.Listen
	}
	if listen == "" {
		listen = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	hs := router.NewServer(srv, ops.live)
	hs.ErrorLog = httpErrorLog(s.log)
	var running inFlight
	hs.Handler = running.wrap(hs.Handler)
	s.log.Info().Str("addr", ops.scheme()+"://"+ln.Addr().String()+"/").Str("gc", gc.String()).Msg("serving")
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- ops.serve(hs, ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info().Dur("grace", time.Duration(srv.ShutdownGrace)).Msg("shutting down: no new connections; waiting for requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(srv.ShutdownGrace))
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		s.log.Warn().Err(err).Msg("grace period over; closing remaining connections")
		hs.Close()
		// Closing their connections cancelled the runs: the guests stop
		// within milliseconds and the handlers write their access-log
		// events, which exiting now would lose.
		if n := running.wait(cutWait); n > 0 {
			s.log.Warn().Int64("requests", n).Dur("waited", cutWait).Msg("requests still running after their connections were closed; exiting without their events")
		}
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.log.Info().Msg("stopped")
	return nil
}

// cutWait bounds how long the shutdown waits, after shutdown_grace, for
// the handlers of the requests it cut to return. Fixed, not a config key:
// a cut guest stops on its cancelled context within milliseconds; this
// only keeps a stuck one from holding the exit.
const cutWait = time.Second

// inFlight counts the requests whose handler is running.
type inFlight struct{ n atomic.Int64 }

func (f *inFlight) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.n.Add(1)
		defer f.n.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// wait returns when no handler runs or after d, with how many still do.
func (f *inFlight) wait(d time.Duration) int64 {
	for end := time.Now().Add(d); f.n.Load() > 0 && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	return f.n.Load()
}
