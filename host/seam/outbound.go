package seam

import (
	"context"
	"net"
	"time"
)

// AllowAllHosts is WAGI's entry for "any host" (wasi-experimental-http's
// insecure:allow-all). The engine still lets it reach globally reachable
// addresses only, never the server's own.
const AllowAllHosts = "insecure:allow-all"

// OutboundPolicy is what one route's guests may reach through
// wasi_experimental_http, and how much. Deny by default: a policy without
// allowed hosts reaches nothing.
type OutboundPolicy struct {
	// AllowedHosts are scheme://host[:port] entries; a host may start
	// with "*." to match any name under a domain. Empty: nothing.
	AllowedHosts []string
	// CapHosts are the tenant's allowed hosts: a request must match both
	// lists. nil means no cap.
	CapHosts []string
	// MaxRequests per run, Timeout per request (bounded by the run's own
	// deadline), MaxBody per response body. 0 means the default
	// (DefaultOutboundRequests, DefaultOutboundTimeout,
	// DefaultOutboundMaxBody).
	MaxRequests int
	Timeout     time.Duration
	MaxBody     int64
	// Slots bound the requests in flight of every route that shares them
	// (a tenant's): one per request, its capacity the bound. nil: none.
	Slots chan struct{}
	// LookupIP resolves host names; nil means net.DefaultResolver. Tests
	// inject a resolver here (DNS rebinding).
	LookupIP func(ctx context.Context, network, host string) ([]net.IP, error)
	// Observe, if set, is told of each outbound request's outcome for the
	// metrics: the tenant, the host (or "other") and the outcome. The
	// engine enforces the policy; the adapter that runs its programs for
	// the host (wasi/cgi) calls Observe.
	Observe func(tenant, host, outcome string)
}
