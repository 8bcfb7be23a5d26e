package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/go-chi/chi/v5"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
)

// wagiModule is one [[module]] table of WAGI's modules.toml.
type wagiModule struct {
	Route              string            `toml:"route"`
	Module             string            `toml:"module"`
	Entrypoint         string            `toml:"entrypoint"`
	Volumes            map[string]string `toml:"volumes"`
	Environment        map[string]string `toml:"environment"`
	Argv               string            `toml:"argv"`
	AllowedHosts       []string          `toml:"allowed_hosts"`
	HTTPMaxConcurrency int               `toml:"http_max_concurrency"`
	// Repository is documented by WAGI as reserved; BindleServer named a
	// Bindle server in WAGI's older files. WAGI ignores both, so wasigate
	// warns and ignores them rather than refuse the file
	// (cmd/wasigate/DECISIONS.md#wagi-and-apache-compatibility).
	Repository   any `toml:"repository"`
	BindleServer any `toml:"bindle_server"`
}

type wagiFile struct {
	Modules      []wagiModule `toml:"module"`
	Bindle       any          `toml:"bindle"`
	BindleServer any          `toml:"bindle_server"`
	DefaultHost  string       `toml:"default_host"`
}

// parseWAGI reads WAGI's modules.toml: routes "/x" (exact), "/x/..."
// (prefix) and "/..." (everything), modules as paths or file:// URLs, and
// WAGI's argv template. Keys wasigate does not implement are reported once
// each as warnings and otherwise ignored.
func parseWAGI(data []byte, path string) (*Config, error) {
	var f wagiFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	// WAGI resolves relative module and volume paths from the working
	// directory it was started in; native files keep theirs relative to the
	// file.
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("%s: working directory for WAGI's relative paths: %w", path, err)
	}
	cfg := &Config{File: path, WAGI: true, BaseDir: wd}
	if und := md.Undecoded(); len(und) > 0 {
		var keys []string
		for _, k := range und {
			keys = append(keys, k.String())
		}
		return nil, fmt.Errorf("%w: %s: unknown WAGI keys: %s", ErrConfig, path, strings.Join(keys, ", "))
	}
	warned := map[string]bool{}
	warn := func(key string) {
		if !warned[key] {
			warned[key] = true
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%s: WAGI key %s is not implemented by wasigate and is ignored", path, key))
		}
	}
	if f.Bindle != nil {
		warn("bindle")
	}
	if f.DefaultHost != "" {
		warn("default_host")
	}
	if f.BindleServer != nil {
		warn("bindle_server")
	}
	for i, m := range f.Modules {
		where := fmt.Sprintf("module #%d %q", i+1, m.Route)
		if m.HTTPMaxConcurrency != 0 {
			warn("http_max_concurrency")
		}
		if m.Repository != nil {
			warn("repository")
		}
		if m.BindleServer != nil {
			warn("bindle_server")
		}
		mod, err := wagiModulePath(m.Module)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s: %v", ErrConfig, path, where, err)
		}
		r := Route{
			Path:       wagiPattern(m.Route),
			Module:     mod,
			Entrypoint: m.Entrypoint,
			Env:        m.Environment,
			Argv:       m.Argv,
			Index:      i + 1,
			wagi:       true,
		}
		// WAGI's allowed_hosts, under wasigate's SSRF rules
		// (cmd/wasigate/DECISIONS.md#outbound-http-is-denied-by-default-and-checked-after-dns).
		r.AllowedHosts = m.AllowedHosts
		if r.Argv == "" {
			r.Argv = "${SCRIPT_NAME} ${ARGS}"
		}
		if len(m.Volumes) > 0 {
			r.Volumes = map[string]Volume{}
			for g, h := range m.Volumes {
				r.Volumes[g] = Volume{Path: h}
			}
		}
		cfg.Routes = append(cfg.Routes, r)
	}
	return cfg, nil
}

// ErrRoutesAnswer is the error of a module whose _routes export printed
// something other than WAGI's list of "/path entrypoint" lines.
var ErrRoutesAnswer = errors.New("malformed _routes answer")

// parseWAGIRoutes reads what a module's _routes export printed: one
// sub-route a line, a path (/x exact, /x/... prefix) and the entrypoint
// serving it, separated by white space. As WAGI does, empty lines are
// skipped and anything else fails the module: a line of one column or of
// three, or an answer with no route at all. Guessing at such a line (the
// module's _start for a missing entrypoint, dropping a third word) would
// serve a route the module's author never wrote.
func parseWAGIRoutes(text string) ([]subRoute, error) {
	var subs []subRoute
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%w: line %d %q has %d columns; want two, a path and an entrypoint (\"/x/... handler\")", ErrRoutesAnswer, i+1, line, len(f))
		}
		s := subRoute{pattern: wagiPattern(f[0]), entry: f[1]}
		if !strings.HasPrefix(s.pattern, "/") {
			return nil, fmt.Errorf("%w: line %d: path %q must start with /", ErrRoutesAnswer, i+1, f[0])
		}
		if err := chiPattern(s.pattern); err != nil {
			return nil, fmt.Errorf("%w: line %d: path %q: %v", ErrRoutesAnswer, i+1, f[0], err)
		}
		subs = append(subs, s)
	}
	if len(subs) == 0 {
		return nil, fmt.Errorf("%w: no routes; a module exporting _routes must print at least one \"/path entrypoint\" line", ErrRoutesAnswer)
	}
	return subs, nil
}

// chiPattern reports what chi would panic on when routing pattern (a
// broken regexp, a wildcard before the end, a parameter twice): a
// module's text must fail its route, not the server.
func chiPattern(pattern string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("not a routable path: %v", p)
		}
	}()
	chi.NewRouter().Handle(pattern, http.NotFoundHandler())
	return nil
}

// wagiPattern turns WAGI's route syntax into a chi pattern.
func wagiPattern(route string) string {
	switch {
	case route == "":
		return "/"
	case route == "/...":
		return "/*"
	case strings.HasSuffix(route, "/..."):
		return strings.TrimSuffix(route, "...") + "*"
	}
	return route
}

// wagiModulePath accepts a path or a file:// URL; WAGI's registry
// references are reported as unsupported.
func wagiModulePath(ref string) (string, error) {
	switch {
	case ref == "":
		return "", fmt.Errorf("module is required")
	case strings.HasPrefix(ref, "oci:"), strings.HasPrefix(ref, "bindle:"):
		return "", fmt.Errorf("module %q: oci: and bindle: references are not supported; download the module and name the file", ref)
	case strings.HasPrefix(ref, "file:"):
		u, err := url.Parse(ref)
		if err != nil {
			return "", fmt.Errorf("module %q: %v", ref, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			// file://a.wasm names a host "a.wasm", not a file: say so
			// rather than report a missing module or drop the host.
			return "", fmt.Errorf("module %q: a file URL names no host (want file:///absolute/path, or a plain relative path)", ref)
		}
		if u.Path == "" {
			return u.Opaque, nil // file:relative/path
		}
		return u.Path, nil
	case strings.Contains(ref, "://"):
		return "", fmt.Errorf("module %q: only file paths and file:// URLs are supported", ref)
	}
	return ref, nil
}

// wagiSpelling turns a chi pattern back into WAGI's route syntax, which
// WAGI guests see in X_MATCHED_ROUTE: /x/* is /x/..., /* is /....
func wagiSpelling(pattern string) string {
	if p, ok := strings.CutSuffix(pattern, "/*"); ok {
		return p + "/..."
	}
	return pattern
}

// lastMatchWins applies WAGI's precedence to a module's own route and the
// sub-routes its _routes lists (in that order): of the patterns matching a
// request, the last one wins ("writing modules", _routes). chi picks the
// most specific pattern instead, so each pattern's handler looks the winner
// up again.
func lastMatchWins(hs []routeHandler) []routeHandler {
	out := make([]routeHandler, len(hs))
	for i, h := range hs {
		own := h.handler
		h.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := r.URL.RawPath // chi routes on the raw path when there is one
			if p == "" {
				p = r.URL.Path
			}
			for j := len(hs) - 1; j >= 0; j-- {
				if patternMatches(hs[j].pattern, p) {
					hs[j].handler.ServeHTTP(w, r)
					return
				}
			}
			own.ServeHTTP(w, r)
		})
		out[i] = h
	}
	return out
}

// patternMatches reports whether a chi pattern of a WAGI route, exact or
// prefix (/x/*, which also serves /x), matches path.
func patternMatches(pattern, path string) bool {
	if base, ok := strings.CutSuffix(pattern, "/*"); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

type subRoute struct{ pattern, entry string }

// wagiSubRoutes runs a module's _routes export, which prints lines of
// "/path entrypoint" (WAGI); a path ending in /... is a prefix.
func wagiSubRoutes(ctx context.Context, mod seam.Module, vols []seam.Mount, lim Limits) ([]subRoute, error) {
	prog, err := mod.Bind(seam.RunConfig{Entrypoint: "_routes", Volumes: vols, MemoryLimit: uint64(lim.Memory), MaxOpenFiles: lim.MaxOpenFiles})
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(ctx, time.Duration(lim.Timeout))
	defer cancel()
	if err := prog.Run(ctx, &host.Invocation{Args: []string{"_routes"}, Stdout: &limitedBuffer{buf: &out, max: 1 << 20}}); err != nil {
		return nil, fmt.Errorf("_routes: %w", err)
	}
	subs, err := parseWAGIRoutes(out.String())
	if err != nil {
		return nil, err
	}
	return subs, nil // in the module's order: the last match wins (lastMatchWins)
}

type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.buf.Len()+len(p) > l.max {
		return 0, errors.New("output too large")
	}
	return l.buf.Write(p)
}
