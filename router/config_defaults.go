package router

import (
	"time"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/host/seam"
)

// The defaults of every configuration key, and how a level of the
// configuration inherits them. A default whose number another package
// enforces is that package's constant (host's own limits, host/seam's for
// the module side), never a copy of it.

// DefaultLimits are the limits of a route that sets none.
var DefaultLimits = Limits{
	Timeout:      Duration(host.DefaultTimeout),
	Memory:       64 << 20,
	MaxBody:      host.DefaultMaxBody,
	MaxOutput:    host.DefaultMaxOutput,
	Concurrency:  64,
	QueueTimeout: Duration(time.Second),
	MaxOpenFiles: seam.DefaultMaxOpenFiles,
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

// DefaultServer are the server-wide bounds of a configuration that sets none.
var DefaultServer = Server{
	ReadHeaderTimeout: Duration(10 * time.Second),
	IdleTimeout:       Duration(120 * time.Second),
	MaxHeaderBytes:    128 << 10,
	MaxURI:            16 << 10,
	MaxCGIHeader:      host.DefaultMaxHeaderBytes,
	ShutdownGrace:     Duration(30 * time.Second),
	ReadTimeout:       Duration(host.DefaultReadTimeout),
	WriteTimeout:      Duration(host.DefaultWriteTimeout),
	LowerPriority:     &lowerPriority,
	// A script build's limits, which wasi/toolchain applies too.
	BuildTimeout:        Duration(seam.DefaultBuildTimeout),
	BuildMemory:         seam.DefaultBuildMemory,
	BuildConcurrency:    seam.DefaultBuildConcurrency,
	Deadline:            "instrument",
	SnapshotInitTimeout: Duration(seam.DefaultSnapshotInitTimeout),
	SnapshotMaxAge:      Duration(seam.DefaultSnapshotMaxAge),
	CacheMaxAge:         Duration(seam.DefaultCacheMaxAge),
	MaxModuleSize:       seam.DefaultMaxModuleSize,
	CacheMaxSize:        seam.DefaultCacheMaxSize,
	ReuseIdle:           Duration(seam.DefaultReuseIdle),
	ReuseMemory:         seam.DefaultReuseMemory,
}

var lowerPriority = true

// LowersPriority reports whether guests that spin are lowered to the lowest
// CPU priority (lower_priority, default true). How the engine does it is
// cmd's to wire, not the configuration's, which knows nothing of the
// engine.
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
	if s.ReuseIdle == 0 {
		s.ReuseIdle = d.ReuseIdle
	}
	if s.ReuseMemory == 0 {
		s.ReuseMemory = d.ReuseMemory
	}
	return s
}
