package router

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrCacheDirReachable is wrapped by the error of a volume, scripts
// folder or error page that is cache_dir, sits inside it or contains it.
// cache_dir holds the key that signs cached compiled code and snapshots,
// and that code itself: a guest that reads the key and writes there forges
// entries the server then runs as its own machine code.
var ErrCacheDirReachable = errors.New("reaches cache_dir, which is the server's alone")

// ErrRootVolume is wrapped by the error of a volume of / (the whole host,
// cache_dir included) that was not explicitly allowed.
var ErrRootVolume = errors.New("volume of / without allow_root = true")

// checkPaths refuses the folders and files the configuration hands to
// guests or serves (volumes, interpreters' volumes, scripts folders,
// error pages) that are, contain or sit inside cacheDir, and volumes of /
// not opted in with allow_root. Paths are compared absolute, cleaned and
// with symlinks resolved, so that neither a link nor "a/../b" slips by.
// An empty cacheDir checks volumes of / only.
func (c *Config) checkPaths(cacheDir string) error {
	cache := ""
	if cacheDir != "" {
		cache = resolvePath(c.Abs(cacheDir))
	}
	var errs []error
	bad := func(where, what, p string, err error, detail string) {
		errs = append(errs, fmt.Errorf("%w: %s: %s: %s %s: %w%s", ErrConfig, c.File, where, what, p, err, detail))
	}
	// reaches says how p stands to cache_dir: "is", "sits inside",
	// "contains", or "" when apart.
	reaches := func(p string) string {
		switch {
		case cache == "":
			return ""
		case p == cache:
			return "is"
		case within(p, cache):
			return "sits inside"
		case within(cache, p):
			return "contains"
		}
		return ""
	}
	checkVolume := func(where string, g string, v Volume, wagi, writableAllowed bool) {
		p := resolvePath(c.Abs(v.Path))
		what := "volume " + g
		if p == "/" {
			switch {
			case wagi:
				bad(where, what, v.Path, ErrRootVolume, " (WAGI's modules.toml has no way to allow it: mount the folders the module needs, or write a wasigate TOML file)")
				return
			case !v.AllowRoot:
				bad(where, what, v.Path, ErrRootVolume, " (every guest of the route would read the whole host: mount the folders it needs, or set allow_root = true on the volume)")
				return
			case v.Writable && writableAllowed:
				bad(where, what, v.Path, ErrCacheDirReachable, ": allow_root is for read-only volumes (a writable / would let guests write cache_dir)")
				return
			}
			return // read-only, allowed on purpose: documented to expose cache_dir to reading
		}
		if r := reaches(p); r != "" {
			bad(where, what, v.Path, ErrCacheDirReachable, fmt.Sprintf(" (%s %s cache_dir %s): mount a folder outside it", p, r, cache))
		}
	}
	for _, rt := range c.AllRoutes() {
		where := rt.where()
		for _, g := range sortedKeys(rt.Volumes) {
			checkVolume(where, g, rt.Volumes[g], rt.wagi, true)
		}
		if rt.Scripts != "" {
			p := resolvePath(c.Abs(rt.Scripts))
			what := "scripts folder"
			if rt.Static {
				what = "scripts folder (a static root)"
			}
			if r := reaches(p); r != "" {
				bad(where, what, rt.Scripts, ErrCacheDirReachable, fmt.Sprintf(" (%s %s cache_dir %s): serve a folder outside it", p, r, cache))
			}
		}
	}
	for i, in := range c.Interpreters {
		where := fmt.Sprintf("interpreter #%d %q", i+1, in.Ext)
		for _, g := range sortedKeys(in.Volumes) {
			checkVolume(where, g, in.Volumes[g], false, false)
		}
	}
	pages := func(where string, table map[string]string) {
		for _, k := range sortedKeys(table) {
			p := resolvePath(c.Abs(table[k]))
			if r := reaches(p); r != "" {
				bad(where, k, table[k], ErrCacheDirReachable, fmt.Sprintf(" (%s %s cache_dir %s): name a page outside it", p, r, cache))
			}
		}
	}
	pages("[errors]", c.Errors)
	for i := range c.Tenants {
		pages(fmt.Sprintf("tenant %q [errors]", c.Tenants[i].Name), c.Tenants[i].Errors)
	}
	return errors.Join(errs...)
}

// within reports whether p sits strictly inside dir; both are clean and
// absolute.
func within(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return strings.HasPrefix(p, dir+string(filepath.Separator))
}

// resolvePath is p made absolute and clean with its symlinks resolved; a
// part that does not exist yet is kept as written below the deepest
// ancestor that does, itself resolved.
func resolvePath(p string) string {
	p, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for dir := p; ; {
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return p
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}

// cacheDirOf is the cache folder Build checks the configuration against:
// the one the server resolved (Options.CacheDir), else cache_dir as
// configured, else none.
func (o Options) cacheDirOf(c *Config) string {
	if o.CacheDir != "" {
		return o.CacheDir
	}
	return c.Abs(c.CacheDir)
}
