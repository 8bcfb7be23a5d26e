package router

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wasigate/wasigate/host/seam"
)

// Outbound are the keys of outbound HTTP through wasi_experimental_http
// (cmd/wasigate/DECISIONS.md#outbound-http-is-denied-by-default-and-checked-after-dns).
// Limits embeds them, so they sit beside the other limits in [defaults], a
// route and a tenant's [tenant.limits]. A tenant's values cap its routes: a
// request must match both the route's and the tenant's allowed_hosts.
type Outbound struct {
	// AllowedHosts are scheme://host[:port] entries ("*." wildcards,
	// "insecure:allow-all" for any host at a globally reachable address
	// that is not the server's own). Empty: nothing.
	AllowedHosts        []string `toml:"allowed_hosts"`
	OutboundRequests    int      `toml:"outbound_requests"`    // per guest run -> too_many_sessions
	OutboundTimeout     Duration `toml:"outbound_timeout"`     // per request, within the run's timeout
	OutboundMaxBody     Size     `toml:"outbound_max_body"`    // response body -> runtime_error
	OutboundConcurrency int      `toml:"outbound_concurrency"` // in flight per tenant ([defaults] or [tenant.limits] only)
}

// DefaultOutbound are the outbound keys of a route that sets none: the
// engine's own defaults (host/seam), which it applies to a zero field too.
var DefaultOutbound = Outbound{
	OutboundRequests:    seam.DefaultOutboundRequests,
	OutboundTimeout:     Duration(seam.DefaultOutboundTimeout),
	OutboundMaxBody:     seam.DefaultOutboundMaxBody,
	OutboundConcurrency: seam.DefaultOutboundConcurrency,
}

// or returns o with each unset field taken from d.
func (o Outbound) or(d Outbound) Outbound {
	if o.AllowedHosts == nil {
		o.AllowedHosts = d.AllowedHosts
	}
	if o.OutboundRequests == 0 {
		o.OutboundRequests = d.OutboundRequests
	}
	if o.OutboundTimeout == 0 {
		o.OutboundTimeout = d.OutboundTimeout
	}
	if o.OutboundMaxBody == 0 {
		o.OutboundMaxBody = d.OutboundMaxBody
	}
	if o.OutboundConcurrency == 0 {
		o.OutboundConcurrency = d.OutboundConcurrency
	}
	return o
}

// capBy lowers o's numbers to c's; the host lists are intersected per
// request (outboundPolicy).
func (o Outbound) capBy(c Outbound) Outbound {
	if c.OutboundRequests != 0 && o.OutboundRequests > c.OutboundRequests {
		o.OutboundRequests = c.OutboundRequests
	}
	if c.OutboundTimeout != 0 && o.OutboundTimeout > c.OutboundTimeout {
		o.OutboundTimeout = c.OutboundTimeout
	}
	if c.OutboundMaxBody != 0 && o.OutboundMaxBody > c.OutboundMaxBody {
		o.OutboundMaxBody = c.OutboundMaxBody
	}
	return o
}

// problems lists what is wrong with o; route is set for a route's keys.
func (o Outbound) problems(route bool) []string {
	var out []string
	for _, h := range o.AllowedHosts {
		if m := allowedHostProblem(h); m != "" {
			out = append(out, fmt.Sprintf("invalid allowed_hosts entry %q: %s (want scheme://host[:port], host may start with *.)", h, m))
		}
	}
	if o.OutboundRequests < 0 || o.OutboundConcurrency < 0 {
		out = append(out, "outbound_requests and outbound_concurrency must be positive")
	}
	if route && o.OutboundConcurrency != 0 {
		out = append(out, "outbound_concurrency is per tenant: set it in [defaults] or [tenant.limits]")
	}
	return out
}

// allowedHostProblem checks an entry's shape at startup, so that a typo
// names its file and route. The same grammar as wasi's parseHostRule, which
// the loader applies again (router does not import wasi:
// cmd/wasigate/DECISIONS.md#router-knows-nothing-of-wazero).
func allowedHostProblem(s string) string {
	if s == seam.AllowAllHosts {
		return ""
	}
	scheme, rest, ok := strings.Cut(s, "://")
	switch {
	case !ok:
		return "no scheme"
	case !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https"):
		return "scheme must be http or https"
	}
	rest = strings.TrimSuffix(rest, "/")
	if strings.ContainsAny(rest, "/?#@") {
		return "only a host and a port"
	}
	wild := strings.HasPrefix(rest, "*.")
	u, err := url.Parse("http://" + strings.TrimPrefix(rest, "*."))
	if err != nil || u.Hostname() == "" {
		return "no host"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("bad port %q", p)
		}
	}
	if _, err := netip.ParseAddr(u.Hostname()); err == nil && wild {
		return "a wildcard needs a domain name"
	}
	return ""
}

// outboundScope is a scope's (the default site's or a tenant's) share of
// outbound HTTP: the slots of its requests in flight.
type outboundScope struct {
	once  sync.Once
	slots chan struct{}
}

// outbound is the route's outbound policy for the loader: its limits, its
// tenant's allowed hosts as a cap, the scope's slots and the metric hook.
func (sc *scope) outbound(rt *Route) seam.OutboundPolicy {
	lim := sc.limits(rt)
	sc.out.once.Do(func() {
		n := sc.defaults.OutboundConcurrency
		if n <= 0 {
			n = DefaultOutbound.OutboundConcurrency
		}
		sc.out.slots = make(chan struct{}, n)
	})
	var observe func(tenant, host, outcome string)
	if sc.parts != nil {
		observe = sc.parts.opts.Outbound
	}
	return seam.OutboundPolicy{
		AllowedHosts: lim.AllowedHosts,
		CapHosts:     sc.caps.AllowedHosts,
		MaxRequests:  lim.OutboundRequests,
		Timeout:      time.Duration(lim.OutboundTimeout),
		MaxBody:      int64(lim.OutboundMaxBody),
		Slots:        sc.out.slots,
		Observe:      observe,
	}
}
