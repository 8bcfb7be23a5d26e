package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/router"
)

// cmdCheck validates the configuration and builds every route, compiling
// every module, without serving. Each problem names the file and route.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	site, s, code := buildSite("check", args, stderr)
	if site == nil {
		return code
	}
	defer s.engine.Close(context.Background())
	fmt.Fprintf(stdout, "%s: ok: %d routes, %d modules\n", s.cfg.File, len(site.Routes), len(site.Modules))
	fmt.Fprintln(stdout, memorySummary(site.Modules))
	for _, r := range site.Routes {
		if r.Snapshot.String() != "" {
			fmt.Fprintf(stdout, "%s (%s %s): %s\n", r.Pattern, r.Module, r.Entrypoint, r.Snapshot)
		}
		for _, in := range r.Interpreters {
			if in.Snapshot.String() != "" {
				fmt.Fprintf(stdout, "%s (%s %s interpreter %s): %s\n", r.Pattern, r.Module, in.Ext, in.Module, in.Snapshot)
			}
		}
	}
	// WSGI applications load on first use when serving; check loads each
	// (preloads, import, warm-ups) and reports the memory its snapshot
	// costs, or fails on one that does not load.
	failed := false
	apps := site.LoadApps(context.Background())
	if len(apps) > 0 {
		fmt.Fprintf(stdout, "WSGI applications: %d loaded for this check, one at a time, each init bounded by snapshot_init_timeout (%s)\n",
			len(apps), cmp.Or(time.Duration(s.cfg.Server.SnapshotInitTimeout), seam.DefaultSnapshotInitTimeout))
	}
	for _, a := range apps {
		if a.Err != nil {
			failed = true
			fmt.Fprintf(stderr, "%s: route %s: %v\n", s.cfg.File, a.Route, a.Err)
			continue
		}
		fmt.Fprintf(stdout, "%s (%s WSGI application): %s\n", a.Route, a.Module, appSummary(a.Snapshot))
	}
	sb := "sandbox: " + s.builder.Sandbox.String()
	if !s.builder.Sandbox.Available() {
		if s.builder.Trusted {
			sb += " (trusted_builds: scripts build unsandboxed)"
		} else {
			sb += " (scripts that need building will fail; set trusted_builds to build unsandboxed)"
		}
	}
	fmt.Fprintf(stdout, "builds: %s\ncache: %s: %s\n", sb, s.builder.Dir, s.cacheState)
	if failed {
		return 1
	}
	return 0
}

// cmdCompile fills the compilation cache, for image builds.
func cmdCompile(args []string, stdout, stderr io.Writer) int {
	start := time.Now()
	site, s, code := buildSite("compile", args, stderr)
	if site == nil {
		return code
	}
	defer s.engine.Close(context.Background())
	site.Prebuild(context.Background()) // scripts folders too
	cached := 0
	for _, m := range site.Modules {
		if m.Info().Cached {
			cached++
		}
	}
	fmt.Fprintf(stdout, "%d modules ready in %s (%d were already in the cache)\n", len(site.Modules), time.Since(start).Round(time.Millisecond), cached)
	return 0
}

// cmdRoutes prints the route table.
func cmdRoutes(args []string, stdout, stderr io.Writer) int {
	site, s, code := buildSite("routes", args, stderr)
	if site == nil {
		return code
	}
	defer s.engine.Close(context.Background())
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	tenants := len(s.cfg.Tenants) > 0
	if tenants {
		fmt.Fprint(tw, "TENANT\t")
	}
	fmt.Fprintln(tw, "ROUTE\tMETHODS\tMODULE\tENTRYPOINT\tTIMEOUT\tMEMORY\tCONCURRENCY")
	for _, r := range site.Routes {
		methods := "*"
		if len(r.Methods) > 0 {
			methods = strings.Join(r.Methods, ",")
		}
		if tenants {
			fmt.Fprintf(tw, "%s\t", cmp.Or(r.Tenant, "-"))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", r.Pattern, methods, r.Module, r.Entrypoint,
			time.Duration(r.Limits.Timeout), r.Limits.Memory, r.Limits.Concurrency)
	}
	tw.Flush()
	return 0
}

func buildSite(name string, args []string, stderr io.Writer) (*router.Site, *setup, int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, nil, 2
	}
	ctx := context.Background()
	s, err := newSetup(ctx, *config, stderr)
	if err != nil {
		printErrors(stderr, err)
		return nil, nil, 1
	}
	site, err := router.Build(ctx, s.cfg, s.options(stderr))
	if err != nil {
		s.engine.Close(ctx)
		printErrors(stderr, err)
		return nil, nil, 1
	}
	return site, s, 0
}

// printErrors prints each joined error on its own line (router.ErrorLines).
func printErrors(w io.Writer, err error) {
	for _, line := range router.ErrorLines(err) {
		fmt.Fprintln(w, "wasigate:", line)
	}
}

// memorySummary says what the modules' compiled code costs in memory:
// what stays and what was released because their programs run from
// snapshots (the snapshot lines give each snapshot's code and image).
func memorySummary(mods []seam.Module) string {
	var held, released int64
	unknown := 0
	for _, m := range mods {
		switch info := m.Info(); {
		case info.Code == 0:
			unknown++
		case info.Released:
			released += info.Code
		default:
			held += info.Code
		}
	}
	s := fmt.Sprintf("memory: %s machine code held by modules, %s released (their routes run from snapshots)", humanSize(held), humanSize(released))
	if unknown > 0 {
		s += fmt.Sprintf(", %d module(s) of unknown size (no compilation cache)", unknown)
	}
	return s
}

// appSummary is what an application's snapshot costs, each figure named:
// the image (the memory every request starts from), whether requests map
// it copy-on-write or copy it, the init (interpreter, preloads, import)
// and the warm-up requests' time apart.
func appSummary(sn seam.Snapshot) string {
	if !sn.On {
		return sn.String()
	}
	how := "mapped copy-on-write"
	if !sn.Mapped {
		how = "copied per instance"
	}
	warm := "none"
	if sn.WarmupTime > 0 {
		warm = sn.WarmupTime.Round(time.Microsecond).String()
	}
	init := sn.InitTime.Round(time.Microsecond).String()
	if sn.Cached {
		init = "loaded from the cache"
	}
	code := ""
	if sn.Code > 0 {
		code = ", " + humanSize(sn.Code) + " machine code"
	}
	return fmt.Sprintf("image %s %s%s, init %s, warm-up %s", humanSize(int64(sn.Image)), how, code, init, warm)
}
