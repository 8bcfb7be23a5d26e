package router

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host"
)

// scope is what the routes of one site share: the default site's routes or
// one tenant's.
type scope struct {
	tenant   string
	defaults Limits            // fills in what a route leaves unset
	caps     Limits            // the most a route gets (a tenant's limits)
	baseEnv  map[string]string // under each route's env
	rate     *bucket           // the tenant's request rate; nil: none
	slots    *limiter          // the tenant's concurrency; nil: none
	onRun    func(tenant, route string, delta int)
	parts    *siteParts
	out      outboundScope // config_outbound.go
	builds   buildScope    // config_tenant.go
}

func defaultScope(defaults Limits, opts Options) *scope {
	return &scope{defaults: defaults, onRun: opts.Running}
}

// limits are a route's effective limits.
func (sc *scope) limits(rt *Route) Limits {
	return rt.Limits.Or(sc.defaults).capBy(sc.caps)
}

// env is a route's env over its tenant's.
func (sc *scope) env(rt *Route) map[string]string {
	if len(sc.baseEnv) == 0 {
		return rt.Env
	}
	env := make(map[string]string, len(sc.baseEnv)+len(rt.Env))
	for k, v := range sc.baseEnv {
		env[k] = v
	}
	for k, v := range rt.Env {
		env[k] = v
	}
	return env
}

// buildTenants builds each tenant's router and puts a hostRouter in front
// of them and of the default site's router (fallback).
func buildTenants(ctx context.Context, cfg *Config, fallback http.Handler, defaults Limits, parts *siteParts, modules map[string]*loaded, srv Server, redirect http.Handler) (http.Handler, []RouteInfo, []error) {
	hr := &hostRouter{exact: map[string]*tenantSite{}, fallback: fallback, strict: len(cfg.Tenants) > 0}
	for _, p := range cfg.TrustedProxies {
		if pfx, err := parsePrefix(p); err == nil {
			hr.trusted = append(hr.trusted, pfx)
		}
	}
	var infos []RouteInfo
	var errs []error
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		tl := t.Limits.Limits
		sc := &scope{
			tenant:   t.Name,
			parts:    parts,
			defaults: tl.Or(defaults),
			caps:     tl,
			baseEnv:  t.Env,
			onRun:    parts.opts.Running,
			builds:   buildScope{n: t.Limits.BuildConcurrency},
		}
		if t.Limits.Rate.N > 0 {
			sc.rate = newBucket(t.Limits.Rate)
		}
		if tl.Concurrency > 0 {
			wait := time.Duration(sc.defaults.QueueTimeout)
			sc.slots = newLimiter(tl.Concurrency, wait, "tenant")
		}
		routes := make([]*Route, len(t.Routes))
		for j := range t.Routes {
			routes[j] = &t.Routes[j]
		}
		mux, ri, e := buildMux(ctx, cfg, routes, sc, modules, srv, redirect)
		infos, errs = append(infos, ri...), append(errs, e...)
		ts := &tenantSite{name: t.Name, handler: tenantChain(parts.tenantPages[t.Name], mux)}
		for _, h := range t.Hosts {
			n := strings.ToLower(strings.TrimSuffix(h, "."))
			if suffix, ok := strings.CutPrefix(n, "*"); ok {
				hr.wildcard = append(hr.wildcard, wildcard{suffix: suffix, site: ts})
			} else {
				hr.exact[n] = ts
			}
		}
	}
	// Longest suffix first: *.eu.acme.example beats *.acme.example.
	sort.SliceStable(hr.wildcard, func(i, j int) bool { return len(hr.wildcard[i].suffix) > len(hr.wildcard[j].suffix) })
	return hr, infos, errs
}

type tenantSite struct {
	name    string
	handler http.Handler
}

type wildcard struct {
	suffix string // ".acme.example"
	site   *tenantSite
}

// hostRouter picks the tenant by the request's host name. A host that no
// tenant claims goes to the default site, never to a tenant.
type hostRouter struct {
	exact    map[string]*tenantSite
	wildcard []wildcard
	fallback http.Handler
	trusted  []netip.Prefix
	// strict refuses absolute-form request targets (there are tenants to
	// keep apart).
	strict bool
}

func (hr *hostRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := host.InfoFrom(r.Context())
	if hr.strict && (r.URL.Host != "" || r.URL.Scheme != "") {
		// RFC 9112 section 3.2.2 has an origin server take the host of an
		// absolute-form target and ignore the Host header, and net/http
		// does so and drops the header. A front end that routed the
		// connection by its Host header would then have sent us a request
		// for another tenant. Clients only send this form to proxies,
		// which wasigate is not: refuse it rather than pick a tenant.
		info.Reason = host.ReasonHost
		zerolog.Ctx(r.Context()).Warn().Str("target", r.RequestURI).Msg("absolute-form request target refused: the tenant would not be the Host header's")
		http.Error(w, "absolute-form request target not accepted", http.StatusBadRequest)
		return
	}
	name := r.Host
	if fwd := lastValue(r.Header["X-Forwarded-Host"]); fwd != "" && hr.fromTrusted(r) {
		// A proxy that appends puts what it saw last: in the last line,
		// after the last comma. Earlier values came from further away, up
		// to the client itself.
		if i := strings.LastIndexByte(fwd, ','); i >= 0 {
			fwd = fwd[i+1:]
		}
		if fwd = strings.TrimSpace(fwd); fwd != "" {
			name = fwd
			// The guest sees the name the client used (SERVER_NAME).
			r = r.Clone(r.Context())
			r.Host = fwd
		}
	}
	ts := hr.match(name)
	if ts == nil {
		hr.fallback.ServeHTTP(w, r)
		return
	}
	info.Tenant = ts.name
	l := zerolog.Ctx(r.Context()).With().Str("tenant", ts.name).Logger()
	ts.handler.ServeHTTP(w, r.WithContext(l.WithContext(r.Context())))
}

// lastValue returns the last of a header's lines, or "".
func lastValue(vv []string) string {
	if len(vv) == 0 {
		return ""
	}
	return vv[len(vv)-1]
}

// match returns the tenant serving host (a Host header value), or nil.
func (hr *hostRouter) match(hostport string) *tenantSite {
	name := hostOnly(hostport)
	if name == "" {
		return nil
	}
	if ts, ok := hr.exact[name]; ok {
		return ts
	}
	for _, wc := range hr.wildcard {
		if len(name) > len(wc.suffix) && strings.HasSuffix(name, wc.suffix) {
			return wc.site
		}
	}
	return nil
}

// hostOnly returns the host name of a Host header value: without the port,
// lower-case, without a trailing dot.
func hostOnly(hostport string) string {
	h := hostport
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			h = h[1:end]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		h = h[:i]
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

func (hr *hostRouter) fromTrusted(r *http.Request) bool {
	if len(hr.trusted) == 0 {
		return false
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range hr.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

var _ http.Handler = (*hostRouter)(nil)
