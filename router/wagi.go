package router

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/BurntSushi/toml"
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
}

type wagiFile struct {
	Modules     []wagiModule `toml:"module"`
	Bindle      any          `toml:"bindle"`
	DefaultHost string       `toml:"default_host"`
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
	cfg := &Config{File: path, WAGI: true}
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
	for i, m := range f.Modules {
		where := fmt.Sprintf("module #%d %q", i+1, m.Route)
		if m.HTTPMaxConcurrency != 0 {
			warn("http_max_concurrency")
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
		// WAGI's allowed_hosts, under wasigate's SSRF rules (issue 16).
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
