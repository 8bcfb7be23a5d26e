package router

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/wasigate/wasigate/host"
)

// Config is a parsed configuration file.
type Config struct {
	Listen      string  `toml:"listen"`       // default 127.0.0.1:8080
	AdminListen string  `toml:"admin_listen"` // metrics and health; off when empty
	CacheDir    string  `toml:"cache_dir"`    // default: wasigate under the user's cache dir
	Defaults    Limits  `toml:"defaults"`
	Server      Server  `toml:"server"`
	Routes      []Route `toml:"route"`
	// Interpreters run scripts of other languages in a scripts folder.
	Interpreters []Interpreter `toml:"interpreter"`
	Hosting                    // tenants, TLS, trusted proxies: config_tenant.go
	// Errors are the server's own error pages by status ("404" = "404.html"),
	// as Apache's ErrorDocument (errorpages.go; issue 15).
	Errors map[string]string `toml:"errors"`

	// File is the configuration file's path; relative paths in it are
	// relative to its folder, or to BaseDir when that is set.
	File string `toml:"-"`
	// WAGI is set when the file was a WAGI modules.toml.
	WAGI bool `toml:"-"`
	// BaseDir, when set, anchors relative paths instead of File's folder:
	// a modules.toml's paths are relative to the working directory, as
	// WAGI resolves them ("configuring and running"; issue 15).
	BaseDir string `toml:"-"`
	// Warnings are things worth telling the operator that are not errors,
	// such as WAGI keys wasigate ignores.
	Warnings []string `toml:"-"`
}

// Limits bound what one route's guests may use. Zero means "inherit":
// a route's limits fall back to [defaults], and those to DefaultLimits.
type Limits struct {
	Timeout      Duration `toml:"timeout"`        // wall clock per request -> 504
	Memory       Size     `toml:"memory"`         // linear memory per instance
	MaxBody      Size     `toml:"max_body"`       // request body -> 413
	MaxOutput    Size     `toml:"max_output"`     // response bytes -> stopped, aborted
	Concurrency  int      `toml:"concurrency"`    // instances of the route at once
	QueueTimeout Duration `toml:"queue_timeout"`  // wait for a slot, then 503
	MaxOpenFiles int      `toml:"max_open_files"` // files an instance holds open in its volumes
	// Reuse, on unless false, resets an instance whose request ended
	// cleanly and keeps it for the next request (at most concurrency idle).
	Reuse    *bool `toml:"reuse"`
	Outbound       // outbound HTTP: config_outbound.go
}

// DefaultLimits are the limits of a route that sets none.
var DefaultLimits = Limits{
	Timeout:      Duration(host.DefaultTimeout),
	Memory:       64 << 20,
	MaxBody:      host.DefaultMaxBody,
	MaxOutput:    host.DefaultMaxOutput,
	Concurrency:  64,
	QueueTimeout: Duration(time.Second),
	MaxOpenFiles: 256, // as wasi.DefaultMaxOpenFiles
	Reuse:        &defaultReuse,
	Outbound:     DefaultOutbound,
}

// Or returns l with each zero field taken from d.
func (l Limits) Or(d Limits) Limits {
	if l.Timeout == 0 {
		l.Timeout = d.Timeout
	}
	if l.Memory == 0 {
		l.Memory = d.Memory
	}
	if l.MaxBody == 0 {
		l.MaxBody = d.MaxBody
	}
	if l.MaxOutput == 0 {
		l.MaxOutput = d.MaxOutput
	}
	if l.Concurrency == 0 {
		l.Concurrency = d.Concurrency
	}
	if l.QueueTimeout == 0 {
		l.QueueTimeout = d.QueueTimeout
	}
	if l.MaxOpenFiles == 0 {
		l.MaxOpenFiles = d.MaxOpenFiles
	}
	if l.Reuse == nil {
		l.Reuse = d.Reuse
	}
	l.Outbound = l.Outbound.or(d.Outbound)
	return l
}

// defaultReuse is DefaultLimits.Reuse.
var defaultReuse = true

// reuse is the route's reuse setting as the loader takes it.
func (l Limits) reuse() bool { return l.Reuse == nil || *l.Reuse }

// Server holds server-wide bounds on what clients may send.
type Server struct {
	ReadHeaderTimeout Duration `toml:"read_header_timeout"` // slowloris
	IdleTimeout       Duration `toml:"idle_timeout"`
	MaxHeaderBytes    Size     `toml:"max_header_bytes"` // request line and headers -> 431
	MaxURI            Size     `toml:"max_uri"`          // request target -> 414
	MaxCGIHeader      Size     `toml:"max_cgi_header"`   // a guest's header block -> 502
	ShutdownGrace     Duration `toml:"shutdown_grace"`   // in-flight requests on SIGTERM
	// ReadTimeout bounds the whole request body -> 408; WriteTimeout each
	// write of a response: no progress for that long aborts it, while a
	// response that keeps writing is never cut (issue 9).
	ReadTimeout  Duration `toml:"read_timeout"`
	WriteTimeout Duration `toml:"write_timeout"`
	// LowerPriority lowers a guest's thread to the lowest CPU priority once
	// it has used 20 ms of CPU (issue 3), so spinning guests cannot starve
	// the server. Default true; false trades that for lower tail latency
	// of short guests (README, Performance). Read at startup only.
	LowerPriority *bool `toml:"lower_priority"`
	// Builds of scripts (issue 10): each toolchain run's wall and CPU
	// time, address space (and largest file written), and how many run at
	// once for each tenant (the default site counts as one), each tenant
	// in slots of its own ([tenant.limits] build_concurrency overrides
	// it). TrustedBuilds builds unsandboxed when no
	// sandbox can be made; InsecureCache accepts a cache_dir others may
	// write to. Both are for development.
	BuildTimeout     Duration `toml:"build_timeout"`
	BuildMemory      Size     `toml:"build_memory"`
	BuildConcurrency int      `toml:"build_concurrency"`
	TrustedBuilds    bool     `toml:"trusted_builds"`
	InsecureCache    bool     `toml:"insecure_cache"`
	// Deadline is how a guest is stopped at its deadline or when its
	// client leaves (issue 13): "instrument" (a check compiled into the
	// module) or "wazero" (wazero's own, which exits to Go at every loop
	// iteration; for diagnosis). Per process, not per route: wazero fixes
	// it per runtime. Read at startup only.
	Deadline string `toml:"deadline"`
	// SnapshotInitTimeout bounds the run of a reactor's _initialize that
	// a snapshot is taken after (issue 12); past it, no snapshot.
	SnapshotInitTimeout Duration `toml:"snapshot_init_timeout"`
	// SnapshotMaxAge: an interpreter's snapshot older than this is taken again with fresh randomness (its hash secret).
	SnapshotMaxAge Duration `toml:"snapshot_max_age"`
	// CacheMaxAge is how long compiled code and snapshots stay in
	// cache_dir unused before a start deletes them.
	CacheMaxAge Duration `toml:"cache_max_age"`
	// MaxModuleSize is the largest module, dropped or built, the server
	// reads: a larger one is refused from its file size, unread ("too
	// large"). CacheMaxSize bounds cache_dir: past it the least recently
	// used compiled code, snapshots and builds go, never one in use.
	MaxModuleSize Size `toml:"max_module_size"`
	CacheMaxSize  Size `toml:"cache_max_size"`
	// MemoryLimit is the Go runtime's soft memory limit, with GOMEMLIMIT's
	// meaning (heap, stacks and runtime metadata; not guests' linear
	// memories or compiled code): the collector works harder as it comes
	// near. 0: half the machine's memory, or of its cgroup's limit. A
	// GOMEMLIMIT in the environment wins. Read at startup only.
	MemoryLimit Size `toml:"memory_limit"`
}

// DefaultServer are the server-wide bounds of a configuration that sets none.
var DefaultServer = Server{
	ReadHeaderTimeout: Duration(10 * time.Second),
	IdleTimeout:       Duration(120 * time.Second),
	MaxHeaderBytes:    128 << 10,
	MaxURI:            16 << 10,
	MaxCGIHeader:      host.DefaultMaxHeaderBytes,
	ShutdownGrace:     Duration(30 * time.Second),
	ReadTimeout:       Duration(60 * time.Second),
	WriteTimeout:      Duration(60 * time.Second),
	LowerPriority:     &lowerPriority,
	BuildTimeout:      Duration(60 * time.Second),
	BuildMemory:       1 << 30,
	BuildConcurrency:  1,
	Deadline:          "instrument",
	// As wasi.DefaultSnapshotInitTimeout.
	SnapshotInitTimeout: Duration(30 * time.Second),
	SnapshotMaxAge:      Duration(24 * time.Hour), // as wasi.DefaultSnapshotMaxAge
	// As wasi.CacheMaxAge.
	CacheMaxAge: Duration(14 * 24 * time.Hour),
	// As wasi.DefaultMaxModuleSize and wasi.DefaultCacheMaxSize.
	MaxModuleSize: 128 << 20,
	CacheMaxSize:  2 << 30,
}

var lowerPriority = true

// LowersPriority reports whether guests that spin are lowered to the
// lowest CPU priority (lower_priority, default true). How the engine does
// it is cmd's to wire, not the configuration's (issue 11).
func (s Server) LowersPriority() bool {
	return s.LowerPriority == nil || *s.LowerPriority
}

// Or returns s with each zero field taken from d.
func (s Server) Or(d Server) Server {
	if s.ReadHeaderTimeout == 0 {
		s.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = d.IdleTimeout
	}
	if s.MaxHeaderBytes == 0 {
		s.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if s.MaxURI == 0 {
		s.MaxURI = d.MaxURI
	}
	if s.MaxCGIHeader == 0 {
		s.MaxCGIHeader = d.MaxCGIHeader
	}
	if s.ShutdownGrace == 0 {
		s.ShutdownGrace = d.ShutdownGrace
	}
	if s.ReadTimeout == 0 {
		s.ReadTimeout = d.ReadTimeout
	}
	if s.WriteTimeout == 0 {
		s.WriteTimeout = d.WriteTimeout
	}
	if s.LowerPriority == nil {
		s.LowerPriority = d.LowerPriority
	}
	if s.BuildTimeout == 0 {
		s.BuildTimeout = d.BuildTimeout
	}
	if s.BuildMemory == 0 {
		s.BuildMemory = d.BuildMemory
	}
	if s.BuildConcurrency == 0 {
		s.BuildConcurrency = d.BuildConcurrency
	}
	if s.Deadline == "" {
		s.Deadline = d.Deadline
	}
	if s.SnapshotInitTimeout == 0 {
		s.SnapshotInitTimeout = d.SnapshotInitTimeout
	}
	if s.SnapshotMaxAge == 0 {
		s.SnapshotMaxAge = d.SnapshotMaxAge
	}
	if s.CacheMaxAge == 0 {
		s.CacheMaxAge = d.CacheMaxAge
	}
	if s.MaxModuleSize == 0 {
		s.MaxModuleSize = d.MaxModuleSize
	}
	if s.CacheMaxSize == 0 {
		s.CacheMaxSize = d.CacheMaxSize
	}
	return s
}

// Route maps a path pattern to a module.
type Route struct {
	Path       string            `toml:"path"`       // chi pattern; a trailing /* makes a prefix route
	Module     string            `toml:"module"`     // .wasm, .wat, or a source the server builds
	Entrypoint string            `toml:"entrypoint"` // default _start
	Env        map[string]string `toml:"env"`
	Volumes    map[string]Volume `toml:"volumes"` // guest path -> host folder
	Methods    []string          `toml:"methods"` // default: any
	// OneScript marks the route of `wasigate run FILE`: only that file is
	// asked for, so scripts beside it that no interpreter serves are a
	// warning rather than a refusal to start.
	OneScript bool `toml:"-"`
	// PassAuthorization passes the Authorization header to the guest.
	PassAuthorization bool `toml:"pass_authorization"`
	// Argv is a WAGI argv template; empty means RFC 3875 search words.
	Argv string `toml:"argv"`
	// Scripts is a folder of scripts served instead of a module: /x/NAME.EXT
	// runs NAME.EXT, built or interpreted on demand (scripts.go).
	Scripts string `toml:"scripts"`
	// ShowBuildErrors puts the compiler's output in the body of a 500 for
	// a script that does not build; it is logged in any case.
	ShowBuildErrors bool `toml:"show_build_errors"`
	// ShowErrors puts a failed guest's stderr (a traceback) in the body of
	// its 502 or 504; it is logged in any case.
	ShowErrors bool `toml:"show_errors"`
	// Index names the entries a scripts folder request (/s/, /s/blog/)
	// runs or serves, first found wins; nil means DefaultScriptIndex.
	IndexFiles []string `toml:"index"`
	// Static serves a scripts folder's other files as files (never its
	// scripts' sources, hidden names or links out of it); off by default so
	// that a folder of sources never leaks them (issue 15).
	Static bool `toml:"static"`
	// Sendfile lets the guest answer X-Sendfile: /guest/path with a file
	// of one of the route's volumes, which the server sends (sendfile.go).
	Sendfile bool `toml:"sendfile"`
	// Snapshot, on unless false, starts a reactor's instances from a
	// snapshot taken after its _initialize ran once (issue 12).
	Snapshot *bool `toml:"snapshot"`
	// WSGI serves a .py file of a scripts folder as a WSGI application
	// ("file.py:name", gunicorn's module:callable) rather than as a CGI
	// script; .wsgi files are applications whose callable is
	// "application" (wsgi.go).
	WSGI string `toml:"wsgi"`
	// Warmup are GET requests (paths) run through each WSGI application
	// of the route before its snapshot is taken, their output discarded.
	Warmup []string `toml:"warmup"`
	Limits

	// app is the one entry of Scripts a WSGI application route serves
	// (module = "x.wsgi", or wsgi = "dir/x.py:name" alone; wsgi_config.go).
	app string

	// Line is where the route was defined, for messages; 0 if unknown.
	Index int `toml:"-"`
	// Tenant is the name of the tenant the route belongs to; empty for
	// the default site.
	Tenant string `toml:"-"`
	// wagi marks a route read from WAGI's modules.toml, whose guests see
	// WAGI's route spelling in X_MATCHED_ROUTE.
	wagi bool
}

// Interpreter runs the scripts whose name ends in Ext with Module, a
// WebAssembly interpreter: a command that takes the script's path as
// argv[1], or a ruby.wasm reactor.
type Interpreter struct {
	Ext    string `toml:"ext"`    // ".rb"
	Module string `toml:"module"` // relative to the configuration's folder
	// Install is the command that installs Module, shown when it is
	// missing.
	Install string `toml:"install"`
	// Optional lets the server start without Module: its scripts answer
	// 500 naming Install until it is there. Without it a missing module
	// fails the start and `wasigate check`.
	Optional bool `toml:"optional"`
	InterpreterOptions
}

// Volume is a host folder a route's guests see. In TOML it is either a
// string (the folder, read-only) or a table { path = "data", writable = true }.
type Volume struct {
	Path     string `toml:"path"`
	Writable bool   `toml:"writable"`
	// AllowRoot must be set for a volume of / (the whole host): read-only
	// only, since cache_dir is then in reach (config_paths.go).
	AllowRoot bool `toml:"allow_root"`
}

// UnmarshalTOML implements toml.Unmarshaler.
func (v *Volume) UnmarshalTOML(data any) error {
	switch d := data.(type) {
	case string:
		v.Path = d
		return nil
	case map[string]any:
		for k, val := range d {
			switch k {
			case "path":
				s, ok := val.(string)
				if !ok {
					return fmt.Errorf("volume path must be a string")
				}
				v.Path = s
			case "writable", "allow_root":
				b, ok := val.(bool)
				if !ok {
					return fmt.Errorf("volume %s must be true or false", k)
				}
				if k == "writable" {
					v.Writable = b
				} else {
					v.AllowRoot = b
				}
			default:
				return fmt.Errorf("unknown volume key %q (want path, writable, allow_root)", k)
			}
		}
		if v.Path == "" {
			return fmt.Errorf("volume needs a path")
		}
		return nil
	}
	return fmt.Errorf("volume must be a folder name or { path = ..., writable = ..., allow_root = ... }")
}

// Name identifies the route in messages: "route /x (wasigate.toml #2)".
func (r *Route) Name() string { return "route " + r.Path }

// LoadConfig reads and validates the configuration at path. A file with
// [[module]] tables is read as WAGI's modules.toml.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, err := ParseConfig(f, path)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// ParseConfig parses a configuration from r; path names it in messages and
// anchors its relative paths. It validates the result: every problem is
// reported, each naming the file and the route.
func ParseConfig(r io.Reader, path string) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var probe map[string]any
	if _, err := toml.Decode(string(data), &probe); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	var cfg *Config
	if _, ok := probe["module"]; ok {
		cfg, err = parseWAGI(data, path)
	} else {
		cfg, err = parseNative(data, path)
	}
	if err != nil {
		return nil, err
	}
	// cache_dir as configured; Build checks the one the server resolves.
	if err := errors.Join(cfg.Validate(), cfg.checkPaths(cfg.CacheDir)); err != nil {
		return nil, err
	}
	return cfg, nil
}

func parseNative(data []byte, path string) (*Config, error) {
	cfg := &Config{File: path}
	md, err := toml.Decode(string(data), cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var keys []string
		for _, k := range und {
			keys = append(keys, k.String())
		}
		return nil, fmt.Errorf("%w: %s: unknown keys: %s", ErrConfig, path, strings.Join(keys, ", "))
	}
	for i := range cfg.Routes {
		cfg.Routes[i].Index = i + 1
	}
	cfg.indexTenants()
	return cfg, nil
}

// Dir is the folder relative paths in the configuration are relative to.
func (c *Config) Dir() string {
	if c.BaseDir != "" {
		return c.BaseDir
	}
	return filepath.Dir(c.File)
}

// Abs resolves a path from the configuration against its folder.
func (c *Config) Abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir(), p)
}

// ErrConfig is wrapped by every error in the configuration itself: TOML
// syntax, unknown keys, bad values and failed validation.
var ErrConfig = errors.New("invalid configuration")

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
