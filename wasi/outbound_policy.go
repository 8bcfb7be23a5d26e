package wasi

import (
	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/outbound"
)

// Outbound HTTP policy: which hosts a route's guests may call
// through wasi_experimental_http, and how much. Deny by default: a route
// without allowed hosts reaches nothing
// (cmd/wasigate/DECISIONS.md#outbound-http-is-denied-by-default-and-checked-after-dns).

// Defaults of OutboundPolicy's zero fields, owned by package seam, whose
// numbers the router's configuration keys take too.
const (
	DefaultOutboundRequests    = seam.DefaultOutboundRequests    // requests per run
	DefaultOutboundTimeout     = seam.DefaultOutboundTimeout     // per request, within the run's deadline
	DefaultOutboundMaxBody     = seam.DefaultOutboundMaxBody     // response body bytes
	DefaultOutboundConcurrency = seam.DefaultOutboundConcurrency // requests in flight per tenant (the host sizes Slots)
)

// OutboundPolicy configures what one route's guests may reach
// (Config.Outbound); its Observe is wasi/cgi's, not the engine's.
type OutboundPolicy = seam.OutboundPolicy

// Outbound is a checked OutboundPolicy, shared by the runs of a route.
type Outbound = outbound.Policy

// denyAll is the policy of a program configured with none: every host
// refused, under the default cap on requests per run.
var denyAll = func() *Outbound {
	o, err := NewOutbound(OutboundPolicy{})
	if err != nil {
		panic(err)
	}
	return o
}()

// NewOutbound checks p, with the defaults for its zero fields, and returns
// the policy the runs of a route share. An invalid entry's error wraps
// ErrAllowedHost.
func NewOutbound(p OutboundPolicy) (*Outbound, error) {
	if p.MaxRequests <= 0 {
		p.MaxRequests = DefaultOutboundRequests
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultOutboundTimeout
	}
	if p.MaxBody <= 0 {
		p.MaxBody = DefaultOutboundMaxBody
	}
	return outbound.New(outbound.Config{AllowedHosts: p.AllowedHosts, CapHosts: p.CapHosts,
		MaxRequests: p.MaxRequests, Timeout: p.Timeout, MaxBody: p.MaxBody, Slots: p.Slots, LookupIP: p.LookupIP})
}

// importsModule reports whether the module imports any function of the
// named module.
func (m *Module) importsModule(name string) bool {
	for _, imp := range m.compiled.ImportedFunctions() {
		if mod, _, _ := imp.Import(); mod == name {
			return true
		}
	}
	return false
}

// UsesOutbound reports whether the program's module imports
// wasi_experimental_http, so that a host sets an observer only for those.
func (p *Program) UsesOutbound() bool { return p.outbound }
