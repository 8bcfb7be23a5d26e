package seam

import (
	"context"
	"io"
	"time"
)

// Invocation is one run of a CGI program: what RFC 3875 gives a script.
type Invocation struct {
	Args   []string  // argv, argv[0] first
	Env    []string  // KEY=value meta-variables, nothing else
	Stdin  io.Reader // the request body; nil is an empty body
	Stdout io.Writer // the CGI response
	Stderr io.Writer // diagnostics, logged by the host

	// Instantiate is set by the Runner to the time it took to create the
	// instance, for the access log.
	Instantiate time.Duration
}

// Runner runs one invocation of a program in a fresh sandbox and returns
// when it has ended. It must stop the program when ctx is done and then
// return an error wrapping ctx's error or cause.
//
// An error that has a MemoryLimitReached() bool method is a failure after
// the program was refused memory at its limit; one with an ExitCode() int
// method is a non-zero exit; any other error not caused by ctx is a crash
// of the program (a trap).
type Runner interface {
	Run(ctx context.Context, inv *Invocation) error
}

// Mount is a host folder the guest sees at Guest.
type Mount struct {
	Guest    string // path inside the guest, such as /data
	Host     string // host folder
	Writable bool   // read-only unless set
}

// RunConfig is what stays the same for every run of one route. A Module
// binds to it once (Module.Bind); zero fields take the defaults of this
// package.
type RunConfig struct {
	Entrypoint string  // "" means _start
	Volumes    []Mount // preopened folders
	// MemoryLimit caps the guest's linear memory in bytes; memory.grow fails
	// beyond it. 0 means the module's own maximum (4 GiB at most).
	MemoryLimit uint64
	// MaxOpenFiles caps the files an instance holds open in its volumes
	// (the preopened volumes included); an open beyond it fails with
	// EAGAIN and the guest goes on. 0 means DefaultMaxOpenFiles; negative,
	// no cap.
	MaxOpenFiles int
	// Scratch is the guest path of a fresh, empty, writable folder each
	// run gets, removed after it; "" gives none.
	Scratch string
	// ScratchSize caps the bytes the scratch folder holds; 0 means
	// DefaultScratchSize.
	ScratchSize int64
	// Outbound is what the guests may reach through
	// wasi_experimental_http; its zero value reaches nothing.
	Outbound OutboundPolicy
	// NoSnapshot runs a reactor's _initialize in every instance instead of
	// starting instances from a snapshot taken after it.
	NoSnapshot bool
	// Preload names the libraries a ruby.wasm snapshot requires after
	// ruby-init (the interpreter's preload list).
	Preload []string
	// InitArgs and InitEnv are the command line (the interpreter and its
	// options, no script) and the environment a driver's wasigate_init
	// gets in its snapshot: the interpreter's configuration, never a
	// request's.
	InitArgs, InitEnv []string
	// Reuse resets an instance whose request ended cleanly and keeps it
	// for the next request instead of closing it; ReuseMax bounds the
	// idle instances kept (0: 64).
	Reuse    bool
	ReuseMax int
	// App: the driver's init loads an application (a WSGI one: InitEnv
	// names it). Its snapshot belongs to the Program alone (Program.Close
	// releases it) and an init that fails is Bind's error (wrapping
	// wasi.ErrAppLoad) instead of a reason to run without a snapshot.
	App bool
	// Learn: the interpreter (a driver or Ruby) has no preload list and
	// learns one from what its runs import from its read-only volumes at
	// LearnRoots, at most LearnMax names (0: the engine's default).
	Learn      bool
	LearnRoots []string
	LearnMax   int
	// Retaken, if not nil, is told of each background retake of the
	// program's interpreter snapshot that one of its runs started (past
	// snapshot_max_age, or names learned), and of each that failed.
	Retaken func(RetakeEvent)
	// WatchInit are guest paths of read-only volumes (a scripts folder)
	// whose files a driver's init read: when one changes, the program's
	// next Refresh takes the snapshot again and waits for it (Refresher).
	// Programs sharing an interpreter's snapshot (the same init inputs)
	// share the first one's list.
	WatchInit []string
	// BuildSlots are the build slots of the route's tenant (nil: the
	// loader's own), so that one tenant's builds never hold another's.
	// Script builds use them, and the retakes of an interpreter's snapshot
	// for an edit of a WatchInit file (nil: the engine's retake slot).
	BuildSlots chan struct{}
}

// ModuleInfo is what a loaded module reports for progress and metrics.
type ModuleInfo struct {
	Size        int
	Cached      bool // found in the compilation cache
	CompileTime time.Duration
	// Deadline is how its guests are stopped at their deadline.
	Deadline string
	// Code is the bytes of its machine code, 0 when unknown; Released,
	// that it is no longer in memory because every program of the module
	// runs from a snapshot (whose code the snapshot's summary gives).
	Code     int64
	Released bool
}

// Program is a module bound to a RunConfig: what a route runs.
type Program interface {
	Runner
	// Entrypoint is the function the program calls.
	Entrypoint() string
	// Snapshot says whether the program's instances start from a snapshot
	// of its init, or why not.
	Snapshot() Snapshot
	// Close releases what the program holds alone (an application's own
	// snapshot, RunConfig.App); the module stays loaded.
	Close(ctx context.Context) error
}

// Refresher is a Program whose interpreter snapshot may hold files that
// change (RunConfig.WatchInit). Refresh, called before a request runs it,
// takes the snapshot again when one of them changed and returns once the
// new one serves, or with the init's error; the old snapshot never serves
// an edited file. Cheap when nothing changed: a stat of each watched file.
type Refresher interface {
	Refresh(ctx context.Context) error
}

// Module is a compiled module.
type Module interface {
	Info() ModuleInfo
	HasExport(name string) bool
	// Kind is how the module runs a script when no entrypoint is named.
	Kind() Kind
	Bind(c RunConfig) (Program, error)
	Close(ctx context.Context) error
}

// Scripts are the built-on-demand scripts of one route. Acquire holds the
// script's module until release is called (the runner calls it when its
// run ends; the caller too, for a run that never starts).
type Scripts interface {
	Acquire(ctx context.Context, path string) (r Runner, release func(), err error)
	Build(ctx context.Context, path string) error
	Close()
}

// Kind is how a module runs when the configuration names no entrypoint:
// what an interpreter's module must be.
type Kind uint8

const (
	// KindOther runs only an entrypoint the configuration names.
	KindOther Kind = iota
	// KindCommand is a WASI command: it exports _start.
	KindCommand
	// KindDriver is a reactor following the init/run ABI
	// (_initialize, wasigate_init, wasigate_run), as python.wasm's driver.
	KindDriver
	// KindRuby is a ruby.wasm reactor (ruby-init), which runs scripts
	// without _start and takes its options from the server.
	KindRuby
)

func (k Kind) String() string {
	switch k {
	case KindCommand:
		return "command"
	case KindDriver:
		return "driver"
	case KindRuby:
		return "ruby"
	}
	return "other"
}

// RetakeEvent is one background retake of an interpreter's snapshot: why,
// what it changed, or why it failed (the old snapshot serving on).
type RetakeEvent struct {
	Module  string   // the interpreter module's name
	Reasons []string // RetakeAge, RetakeLearned, or both; or RetakeEdited
	Edited  []string // RetakeEdited: the guest paths of the changed files
	Added   []string // learned names the new snapshot imports that the old did not
	Dropped []string // learned names whose import failed in the init
	Learned int      // learned names in all
	Image   uint64   // bytes of the new snapshot's image
	Init    time.Duration
	Err     error // the retake failed
	// Unlearned: the snapshot was taken without the learned names, so that
	// fresh randomness does not wait for them, since the last retake with
	// them failed with this error. The learned list is kept.
	Unlearned error
}

// The reasons of a RetakeEvent.
const (
	RetakeAge     = "snapshot_max_age" // older than snapshot_max_age: fresh randomness
	RetakeLearned = "learned"          // new learned preloads
	RetakeEdited  = "edited"           // a file the init read changed (RunConfig.WatchInit)
)
