package wasi

import (
	"github.com/wasigate/wasigate/host/seam"
	"github.com/wasigate/wasigate/wasi/internal/outbound"
)

// Outbound HTTP policy: which hosts a route's guests may call
// through wasi_experimental_http, and how much. Deny by default: a route
// without allowed hosts reaches nothing
// (cmd/wasigate/DECISIONS.md#outbound-http-is-denied-by-default-and-checked-after-dns).

// denyAll is the policy of a program configured with none: every host
// refused, under the default cap on requests per run.
var denyAll = func() *outbound.Policy {
	o, err := newOutbound(seam.OutboundPolicy{})
	if err != nil {
		panic(err)
	}
	return o
}()

// newOutbound checks p, with the defaults for its zero fields, and returns
// the policy the runs of a route share. An invalid entry's error wraps
// ErrAllowedHost.
func newOutbound(p seam.OutboundPolicy) (*outbound.Policy, error) {
	if p.MaxRequests <= 0 {
		p.MaxRequests = seam.DefaultOutboundRequests
	}
	if p.Timeout <= 0 {
		p.Timeout = seam.DefaultOutboundTimeout
	}
	if p.MaxBody <= 0 {
		p.MaxBody = seam.DefaultOutboundMaxBody
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
