package wasi

import (
	"context"
	"net"
	"time"

	"github.com/wasigate/wasigate/wasi/internal/outbound"
)

// Outbound HTTP policy (issue 16): which hosts a route's guests may call
// through wasi_experimental_http, and how much. Deny by default: a route
// without allowed hosts reaches nothing.

// Defaults of OutboundPolicy's zero fields; the router's DefaultLimits
// documents the same values as configuration keys.
const (
	DefaultOutboundRequests    = 16               // requests per run
	DefaultOutboundTimeout     = 10 * time.Second // per request, within the run's deadline
	DefaultOutboundMaxBody     = 10 << 20         // response body bytes
	DefaultOutboundConcurrency = 16               // requests in flight per tenant (the host sizes Slots)
)

// OutboundPolicy configures what one route's guests may reach.
type OutboundPolicy struct {
	// AllowedHosts are scheme://host[:port] entries; a host may start
	// with "*." to match any name under a domain. Empty: nothing.
	AllowedHosts []string
	// CapHosts are the tenant's allowed hosts: a request must match both
	// lists. nil means no cap.
	CapHosts []string
	// MaxRequests per run, Timeout per request (bounded by the run's own
	// deadline), MaxBody per response body. 0 means the default.
	MaxRequests int
	Timeout     time.Duration
	MaxBody     int64
	// Slots bound the requests in flight of every route that shares them
	// (a tenant's): one per request, its capacity the bound. nil: none.
	Slots chan struct{}
	// LookupIP resolves host names; nil means net.DefaultResolver. Tests
	// inject a resolver here (DNS rebinding).
	LookupIP func(ctx context.Context, network, host string) ([]net.IP, error)
}

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
	return outbound.New(outbound.Config(p))
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
