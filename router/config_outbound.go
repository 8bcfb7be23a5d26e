package router

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host"
	"github.com/wasigate/wasigate/wasi"
)

// Outbound are the keys of outbound HTTP through wasi_experimental_http
// (issue 16). Limits embeds them, so they sit beside the other limits in
// [defaults], a route and a tenant's [tenant.limits]. A tenant's values cap
// its routes: a request must match both the route's and the tenant's
// allowed_hosts.
type Outbound struct {
	// AllowedHosts are scheme://host[:port] entries ("*." wildcards,
	// "insecure:allow-all" for any public host). Empty: nothing.
	AllowedHosts        []string `toml:"allowed_hosts"`
	OutboundRequests    int      `toml:"outbound_requests"`    // per guest run -> too_many_sessions
	OutboundTimeout     Duration `toml:"outbound_timeout"`     // per request, within the run's timeout
	OutboundMaxBody     Size     `toml:"outbound_max_body"`    // response body -> runtime_error
	OutboundConcurrency int      `toml:"outbound_concurrency"` // in flight per tenant ([defaults] or [tenant.limits] only)
}

// DefaultOutbound are the outbound keys of a route that sets none; the
// same values as wasi's DefaultOutbound* constants.
var DefaultOutbound = Outbound{
	OutboundRequests:    16,
	OutboundTimeout:     Duration(10 * time.Second),
	OutboundMaxBody:     10 << 20,
	OutboundConcurrency: 16,
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
		if err := wasi.ParseAllowedHost(h); err != nil {
			out = append(out, err.Error())
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

// outboundScope is a scope's (the default site's or a tenant's) share of
// outbound HTTP: the limiter of its requests in flight.
type outboundScope struct {
	once    sync.Once
	limiter *wasi.OutboundLimiter
}

// routeOutbound is what a route's runs need for outbound HTTP; it travels
// in the request's context to programRunner.
type routeOutbound struct {
	policy *wasi.Outbound
	metric func(tenant, host, outcome string)
}

type outboundKey struct{}

// withOutbound gives h's requests the route's outbound policy.
func (sc *scope) withOutbound(rt *Route, h http.Handler) (http.Handler, error) {
	lim := sc.limits(rt)
	sc.out.once.Do(func() { sc.out.limiter = wasi.NewOutboundLimiter(sc.defaults.OutboundConcurrency) })
	pol, err := wasi.NewOutbound(wasi.OutboundPolicy{
		AllowedHosts: lim.AllowedHosts,
		CapHosts:     sc.caps.AllowedHosts,
		MaxRequests:  lim.OutboundRequests,
		Timeout:      time.Duration(lim.OutboundTimeout),
		MaxBody:      int64(lim.OutboundMaxBody),
		Limiter:      sc.out.limiter,
	})
	if err != nil {
		return nil, err
	}
	ro := &routeOutbound{policy: pol, metric: sc.parts.opts.Outbound}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), outboundKey{}, ro)))
	}), nil
}

// outboundCall sets a run's outbound policy and its observer: one log
// event per outbound request, on the request's logger, and the metric.
func outboundCall(ctx context.Context, p *wasi.Program, c *wasi.Call) {
	if !p.UsesOutbound() {
		return
	}
	ro, _ := ctx.Value(outboundKey{}).(*routeOutbound)
	if ro == nil {
		ro = &routeOutbound{}
	}
	c.Outbound = ro.policy
	info := host.InfoFrom(ctx)
	log := zerolog.Ctx(ctx)
	c.OnOutbound = func(ev wasi.OutboundEvent) {
		e := log.Info()
		if ev.Outcome != "ok" {
			e = log.Warn()
		}
		e = e.Str("route", info.Route).Str("module", info.Module)
		if info.Tenant != "" {
			e = e.Str("tenant", info.Tenant)
		}
		e = e.Str("method", ev.Method).Str("host", ev.Host).Int("status", ev.Status).
			Int64("bytes", ev.Bytes).Dur("duration", ev.Duration).Str("outcome", ev.Outcome)
		if ev.Reason != "" {
			e = e.Str("reason", ev.Reason)
		}
		if ev.Err != nil {
			e = e.AnErr("error", ev.Err)
		}
		e.Msg("outbound request")
		if ro.metric != nil {
			h := ev.Host
			if ev.Outcome == "refused" && (ev.Reason == "host" || ev.Reason == "invalid") {
				// The guest chose it: no label per name it makes up.
				h = "other"
			}
			ro.metric(info.Tenant, h, ev.Outcome)
		}
	}
}
