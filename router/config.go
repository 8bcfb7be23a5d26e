package router

import "fmt"

// The configuration is one file set: the TOML model here, its defaults
// (config_defaults.go), parsing (config_parse.go) and validation
// (config_validate.go, config_sizes.go, config_paths.go), and the keys of
// one concern each with their own defaults and checks (config_outbound.go,
// config_tenant.go, config_wsgi.go, interpreter.go) and units
// (config_units.go).

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
	// Errors are the server's own error pages by status ("404" =
	// "404.html"), as Apache's ErrorDocument (errorpages.go).
	Errors map[string]string `toml:"errors"`

	// File is the configuration file's path; relative paths in it are
	// relative to its folder, or to BaseDir when that is set.
	File string `toml:"-"`
	// WAGI is set when the file was a WAGI modules.toml.
	WAGI bool `toml:"-"`
	// BaseDir, when set, anchors relative paths instead of File's folder: a
	// modules.toml's paths are relative to the working directory, as WAGI
	// resolves them ("configuring and running"), so that an unchanged
	// modules.toml runs.
	BaseDir string `toml:"-"`
	// Warnings are things worth telling the operator that are not errors,
	// such as WAGI keys wasigate ignores.
	Warnings []string `toml:"-"`
	// zeroServer: the [server] duration keys the file wrote as zero
	// (config_zero.go), refused by Validate.
	zeroServer []string
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
	// response that keeps writing is never cut
	// (cmd/wasigate/DECISIONS.md#time-blocked-on-the-client-counts).
	ReadTimeout  Duration `toml:"read_timeout"`
	WriteTimeout Duration `toml:"write_timeout"`
	// LowerPriority lowers a guest's thread to the lowest CPU priority once
	// it has used 20 ms of CPU, so spinning guests cannot starve the server
	// (cmd/wasigate/DECISIONS.md#a-spinning-guest-runs-at-the-lowest-priority).
	// Default true; false trades that for lower tail latency of short
	// guests (cmd/wasigate-bench/README.md). Read at startup only.
	LowerPriority *bool `toml:"lower_priority"`
	// Builds of scripts
	// (cmd/wasigate/DECISIONS.md#builds-run-sandboxed-and-bounded): each
	// toolchain run's wall and CPU time, address space (and largest file
	// written), and how many run at once for each tenant (the default site
	// counts as one), each tenant in slots of its own ([tenant.limits]
	// build_concurrency overrides it). TrustedBuilds builds unsandboxed
	// when no sandbox can be made; InsecureCache accepts a cache_dir others
	// may write to. Both are for development.
	BuildTimeout     Duration `toml:"build_timeout"`
	BuildMemory      Size     `toml:"build_memory"`
	BuildConcurrency int      `toml:"build_concurrency"`
	TrustedBuilds    bool     `toml:"trusted_builds"`
	InsecureCache    bool     `toml:"insecure_cache"`
	// Deadline is how a guest is stopped at its deadline or when its client
	// leaves
	// (cmd/wasigate/DECISIONS.md#guests-are-stopped-by-compiled-checks):
	// "instrument" (a check compiled into the module) or "wazero" (wazero's
	// own, which exits to Go at every loop iteration; for diagnosis). Per
	// process, not per route: wazero fixes it per runtime. Read at startup
	// only.
	Deadline string `toml:"deadline"`
	// SnapshotInitTimeout bounds the run of a reactor's _initialize that a
	// snapshot is taken after; past it, no snapshot, and the route runs the
	// init per request.
	SnapshotInitTimeout Duration `toml:"snapshot_init_timeout"`
	// SnapshotMaxAge: an interpreter's snapshot older than this is taken
	// again with fresh randomness (its hash secret).
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
	// ReuseIdle is how long a reused instance waits idle before it is
	// closed; ReuseMemory the bytes of memory all idle instances hold as
	// their own together, past which one more is closed rather than kept
	// (wasi/README.md#reused-instances). Read at startup only.
	ReuseIdle   Duration `toml:"reuse_idle"`
	ReuseMemory Size     `toml:"reuse_memory"`
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
	// that a folder of sources never leaks them.
	Static bool `toml:"static"`
	// Sendfile lets the guest answer X-Sendfile: /guest/path with a file
	// of one of the route's volumes, which the server sends (sendfile.go).
	Sendfile bool `toml:"sendfile"`
	// Snapshot, on unless false, starts a reactor's instances from a
	// snapshot taken after its _initialize ran once
	// (cmd/wasigate/DECISIONS.md#reactors-start-from-a-snapshot-of-their-init).
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
	// (module = "x.wsgi", or wsgi = "dir/x.py:name" alone; config_wsgi.go).
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
