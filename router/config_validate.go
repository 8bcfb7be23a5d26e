package router

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/wasigate/wasigate/host"
)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var methodName = regexp.MustCompile(`^[A-Z]+$`)

// Validate reports every problem in the configuration at once, each naming
// the file and the route. It does not look at module contents: Build does.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrConfig, c.File, fmt.Sprintf(format, args...)))
	}
	for _, m := range errorPageProblems(c.Errors) {
		bad("%s", m)
	}
	checkLimits := func(where string, l Limits) {
		for _, m := range limitProblems(l) {
			bad("%s: %s", where, m)
		}
		for _, p := range l.Outbound.problems(where != "[defaults]") {
			bad("%s: %s", where, p)
		}
	}
	checkLimits("[defaults]", c.Defaults)
	if c.Server.BuildConcurrency < 0 || c.Server.BuildTimeout < 0 || (c.Server.BuildMemory != 0 && c.Server.BuildMemory < 64<<20) {
		bad("[server]: build_concurrency and build_timeout must be positive, build_memory at least 64MiB")
	}
	if c.Server.CacheMaxAge != 0 && c.Server.CacheMaxAge < Duration(time.Hour) {
		bad("[server]: cache_max_age must be at least 1h")
	}
	for _, m := range c.Server.sizeProblems() {
		bad("[server]: %s", m)
	}
	if c.Server.SnapshotInitTimeout < 0 {
		bad("[server]: snapshot_init_timeout must be positive")
	}
	if a := c.Server.SnapshotMaxAge; a != 0 && a < Duration(time.Second) {
		bad("[server]: snapshot_max_age %s: want at least 1s (each retake runs the interpreter's init again)", time.Duration(a))
	}
	for _, k := range c.zeroServer {
		bad("[server]: %s", zeroProblem(k, serverDefault(k)))
	}
	if c.Server.ReuseIdle < 0 {
		bad("[server]: reuse_idle must be positive (the default is 30s; reuse = false keeps no instance)")
	}
	if d := c.Server.Deadline; d != "" && d != "instrument" && d != "wazero" {
		bad("[server]: deadline %q: want \"instrument\" or \"wazero\"", d)
	}
	c.normalizeApps()
	seen := map[string]int{}
	for i := range c.Routes {
		r := &c.Routes[i]
		where := fmt.Sprintf("route #%d %q", r.Index, r.Path)
		switch {
		case r.Path == "":
			bad("%s: path is required", where)
		case !strings.HasPrefix(r.Path, "/"):
			bad("%s: path must start with /", where)
		case strings.Contains(strings.TrimSuffix(r.Path, "/*"), "*"):
			bad("%s: * is only allowed as the last segment (/prefix/*)", where)
		}
		if prev, ok := seen[r.Path]; ok && r.Path != "" && len(r.Methods) == 0 {
			bad("%s: same path as route #%d", where, prev)
		}
		seen[r.Path] = r.Index
		switch {
		case r.Module == "" && r.Scripts == "":
			bad("%s: module (or scripts) is required", where)
		case r.Module != "" && r.Scripts != "":
			bad("%s: module and scripts are mutually exclusive", where)
		case r.Scripts != "" && r.app == "" && !strings.HasSuffix(r.Path, "/*"):
			bad("%s: a scripts route must be a prefix route (/x/*)", where)
		case r.Scripts != "" && r.Entrypoint != "":
			bad("%s: entrypoint does not apply to a scripts route", where)
		}
		for _, m := range r.fileKeyProblems() {
			bad("%s: %s", where, m)
		}
		for _, m := range r.wsgiProblems() {
			bad("%s: %s", where, m)
		}
		for _, m := range envProblems(r.Env) {
			bad("%s: %s", where, m)
		}
		for g, v := range r.Volumes {
			if !strings.HasPrefix(g, "/") {
				bad("%s: volume guest path %q must be absolute", where, g)
			}
			if v.Path == "" {
				bad("%s: volume %s needs a host folder", where, g)
			}
		}
		for _, m := range sameGuestFolder(r.Volumes) {
			bad("%s: %s", where, m)
		}
		for _, m := range r.Methods {
			if !methodName.MatchString(m) {
				bad("%s: method %q is not an upper-case HTTP method", where, m)
			}
		}
		checkLimits(where, r.Limits)
	}
	exts := map[string]bool{}
	for i, in := range c.Interpreters {
		where := fmt.Sprintf("interpreter #%d %q", i+1, in.Ext)
		switch {
		case !interpreterExt.MatchString(in.Ext):
			bad("%s: ext must be a dot and a name, like .rb", where)
		case exts[in.Ext]:
			bad("%s: another interpreter has the same ext", where)
		}
		exts[in.Ext] = true
		if in.Module == "" {
			bad("%s: module is required", where)
		}
		for _, msg := range checkInterpreter(where, in) {
			bad("%s", msg)
		}
	}
	errs = append(errs, c.validateHosting())
	return errors.Join(errs...)
}

var interpreterExt = regexp.MustCompile(`^\.[A-Za-z0-9_+-]+$`)

// sortedKeys returns m's keys in order, for stable output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// limitProblems says what is wrong with a set of limits: the same rules
// for [defaults], a route's and a tenant's.
func limitProblems(l Limits) []string {
	var p []string
	if l.Concurrency < 0 {
		p = append(p, "concurrency must be positive")
	}
	if l.Memory != 0 && (l.Memory < 64<<10 || l.Memory > 4<<30) {
		p = append(p, "memory must be between 64KiB and 4GiB")
	}
	if m := badMaxOpenFiles(l.MaxOpenFiles); m != "" {
		p = append(p, m)
	}
	return p
}

// envProblems says what is wrong with a configured env (a route's, a
// tenant's, an interpreter's): names that are not variable names, or that
// the host sets.
func envProblems(env map[string]string) []string {
	var p []string
	for _, k := range sortedKeys(env) {
		if !envName.MatchString(k) {
			p = append(p, fmt.Sprintf("env name %q is not a valid variable name", k))
		} else if host.Reserved(k) {
			p = append(p, fmt.Sprintf("env %s collides with a CGI variable the server sets", k))
		}
	}
	return p
}

// badMaxOpenFiles says what is wrong with a max_open_files value, or "".
// The cap counts each volume's own folder too, so 1 leaves a guest none.
func badMaxOpenFiles(n int) string {
	if n != 0 && (n < 1 || n > 1<<16) {
		return "max_open_files must be between 1 and 65536"
	}
	return ""
}

// sameGuestFolder names the volumes whose guest paths are one folder
// once cleaned ("/data" and "/data/"): wazero would keep the last one
// mounted and silently hide the other.
func sameGuestFolder(vols map[string]Volume) []string {
	var out []string
	seen := map[string]string{}
	for _, g := range sortedKeys(vols) {
		c := path.Clean(g)
		if first, ok := seen[c]; ok {
			out = append(out, fmt.Sprintf("volumes %q and %q name the same guest folder %s: keep one", first, g, c))
			continue
		}
		seen[c] = g
	}
	return out
}
