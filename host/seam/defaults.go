package seam

import "time"

// The defaults of the limits the module side enforces. They are owned
// here, once, so that the configuration (router, which documents each as
// a key) and the engine (wasi, which applies them to a zero field) read
// the same number. Package host owns the defaults of its own limits.

// Defaults of a RunConfig's zero fields.
const (
	DefaultMaxOpenFiles = 256      // RunConfig.MaxOpenFiles; max_open_files
	DefaultScratchSize  = 64 << 20 // RunConfig.ScratchSize, bytes
)

// Defaults of an OutboundPolicy's zero fields, and of the tenant's
// requests in flight (outbound_concurrency; the host sizes Slots).
const (
	DefaultOutboundRequests    = 16               // requests per run
	DefaultOutboundTimeout     = 10 * time.Second // per request, within the run's deadline
	DefaultOutboundMaxBody     = 10 << 20         // response body bytes
	DefaultOutboundConcurrency = 16               // requests in flight per tenant
)

// Defaults of the engine and of script builds, per process ([server]).
const (
	// DefaultSnapshotInitTimeout bounds the init a snapshot is taken
	// after (snapshot_init_timeout).
	DefaultSnapshotInitTimeout = 30 * time.Second
	// DefaultSnapshotMaxAge is the age past which an interpreter's
	// snapshot is taken again with fresh randomness (snapshot_max_age).
	DefaultSnapshotMaxAge = 24 * time.Hour
	// DefaultCacheMaxAge is how long compiled code and snapshots stay in
	// the cache folder unused (cache_max_age).
	DefaultCacheMaxAge = 14 * 24 * time.Hour
	// DefaultMaxModuleSize is the largest module read (max_module_size):
	// ruby.wasm with its standard library is about 50 MB.
	DefaultMaxModuleSize = 128 << 20
	// DefaultCacheMaxSize bounds the cache folder (cache_max_size).
	DefaultCacheMaxSize = 2 << 30
	// DefaultBuildTimeout is a build's wall clock, and its CPU time
	// (build_timeout); DefaultBuildMemory the address space of each of
	// its processes (build_memory); DefaultBuildConcurrency how many
	// builds run at once (build_concurrency).
	DefaultBuildTimeout     = 60 * time.Second
	DefaultBuildMemory      = 1 << 30
	DefaultBuildConcurrency = 1
	// DefaultReuseIdle is how long a reused instance waits idle before
	// it is closed (reuse_idle); DefaultReuseMemory the bytes of memory
	// all idle instances hold as their own together, past which one more
	// is closed rather than kept (reuse_memory).
	DefaultReuseIdle   = 30 * time.Second
	DefaultReuseMemory = 512 << 20
)
