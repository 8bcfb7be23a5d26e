package router

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Hosting is the part of the configuration about whom the server serves and
// how: tenants chosen by host name, the proxies trusted to name the host,
// TLS on the public listener and the admin listener's extras. Config embeds
// it, so its keys sit at the top level of the file.
type Hosting struct {
	Tenants []Tenant `toml:"tenant"`
	// TrustedProxies are the addresses (CIDR or single IP) whose
	// X-Forwarded-Host is believed. Empty: the header is ignored.
	TrustedProxies []string `toml:"trusted_proxies"`
	TLSCert        string   `toml:"tls_cert"` // PEM files; both or neither
	TLSKey         string   `toml:"tls_key"`
	// Pprof serves net/http/pprof on the admin listener (never on the
	// public one).
	Pprof bool `toml:"pprof"`
}

// Tenant is a site of its own inside the server, chosen by the request's
// host name. Its routes, volumes and env are reachable only through its
// hosts.
type Tenant struct {
	Name string `toml:"name"`
	// Hosts are host names ("acme.example") or wildcards ("*.acme.example",
	// which matches any name ending in ".acme.example" but not the bare
	// domain). Matched without the port and case-insensitively; an exact
	// name beats a wildcard, a longer wildcard beats a shorter one.
	Hosts  []string          `toml:"hosts"`
	Limits TenantLimits      `toml:"limits"`
	Env    map[string]string `toml:"env"` // under every route's env
	Routes []Route           `toml:"route"`
	// Errors are the tenant's error pages, over the server's (errorpages.go).
	Errors map[string]string `toml:"errors"`
}

// TenantLimits are a tenant's limits: the keys of [defaults], which fill
// in what the tenant's routes leave unset and cap what they set, and a
// request rate for the whole tenant. Concurrency counts instances across
// all of the tenant's routes.
type TenantLimits struct {
	Limits
	Rate Rate `toml:"rate"` // requests over it -> 429 with Retry-After
	// BuildConcurrency is how many of the tenant's scripts build at once,
	// in slots no other tenant takes; 0: [server] build_concurrency.
	BuildConcurrency int `toml:"build_concurrency"`
}

// Rate is a request rate written "100/s", "600/m", "10/h" or "5/250ms".
// It is enforced as a token bucket that holds at most N tokens, so a quiet
// tenant may burst up to N requests at once. The zero Rate is no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Rate) UnmarshalText(b []byte) error {
	bad := fmt.Errorf("invalid rate %q (want e.g. \"100/s\", \"600/m\", \"5/250ms\")", b)
	num, unit, ok := strings.Cut(strings.TrimSpace(string(b)), "/")
	if !ok {
		return bad
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n <= 0 {
		return bad
	}
	var per time.Duration
	switch unit = strings.TrimSpace(unit); unit {
	case "s":
		per = time.Second
	case "m", "min":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		per, err = time.ParseDuration(unit)
		if err != nil || per <= 0 {
			return bad
		}
	}
	r.N, r.Per = n, per
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (r Rate) String() string {
	if r.N == 0 {
		return "none"
	}
	switch r.Per {
	case time.Second:
		return fmt.Sprintf("%d/s", r.N)
	case time.Minute:
		return fmt.Sprintf("%d/m", r.N)
	case time.Hour:
		return fmt.Sprintf("%d/h", r.N)
	}
	return fmt.Sprintf("%d/%s", r.N, r.Per)
}

// capBy returns l with each limit that c sets lowered to c's value: a
// tenant's limits are the most its routes get, whatever they ask for.
func (l Limits) capBy(c Limits) Limits {
	lower := func(v *Duration, c Duration) {
		if c != 0 && *v > c {
			*v = c
		}
	}
	lowerSize := func(v *Size, c Size) {
		if c != 0 && *v > c {
			*v = c
		}
	}
	lower(&l.Timeout, c.Timeout)
	lower(&l.QueueTimeout, c.QueueTimeout)
	lowerSize(&l.Memory, c.Memory)
	lowerSize(&l.MaxBody, c.MaxBody)
	lowerSize(&l.MaxOutput, c.MaxOutput)
	if c.Concurrency != 0 && l.Concurrency > c.Concurrency {
		l.Concurrency = c.Concurrency
	}
	if c.MaxOpenFiles != 0 && l.MaxOpenFiles > c.MaxOpenFiles {
		l.MaxOpenFiles = c.MaxOpenFiles
	}
	l.Outbound = l.Outbound.capBy(c.Outbound)
	return l
}

// indexTenants numbers each tenant's routes and marks them with the
// tenant's name, for messages.
func (c *Config) indexTenants() {
	for i := range c.Tenants {
		t := &c.Tenants[i]
		for j := range t.Routes {
			t.Routes[j].Index = j + 1
			t.Routes[j].Tenant = t.Name
		}
	}
}

// AllRoutes returns the default site's routes, then each tenant's.
func (c *Config) AllRoutes() []*Route {
	var out []*Route
	for i := range c.Routes {
		out = append(out, &c.Routes[i])
	}
	for i := range c.Tenants {
		for j := range c.Tenants[i].Routes {
			out = append(out, &c.Tenants[i].Routes[j])
		}
	}
	return out
}

// ModulePaths returns the absolute path of every module the configuration
// names, each once, for a watcher that reloads when one changes.
func (c *Config) ModulePaths() []string {
	seen := map[string]bool{}
	var out []string
	for _, rt := range c.AllRoutes() {
		if p := c.Abs(rt.Module); p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// where names a route in messages: `route #2 "/x"`, or for a tenant's
// route `tenant "acme" route #2 "/x"`.
func (r *Route) where() string {
	if r.Tenant != "" {
		return fmt.Sprintf("tenant %q route #%d %q", r.Tenant, r.Index, r.Path)
	}
	return fmt.Sprintf("route #%d %q", r.Index, r.Path)
}

var tenantName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// hostLabel is what DNS names may hold (RFC 1123), lower-cased.
var hostName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)

// validateHosting reports every problem with tenants, trusted proxies and
// TLS, each naming the file and the tenant.
func (c *Config) validateHosting() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrConfig, c.File, fmt.Sprintf(format, args...)))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls_cert and tls_key go together")
	}
	for _, p := range c.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			bad("trusted_proxies: %q is not an IP address or CIDR prefix", p)
		}
	}
	names := map[string]bool{}
	hosts := map[string]string{} // normalised host -> tenant
	for i := range c.Tenants {
		t := &c.Tenants[i]
		where := fmt.Sprintf("tenant #%d %q", i+1, t.Name)
		switch {
		case t.Name == "":
			bad("%s: name is required", where)
		case !tenantName.MatchString(t.Name):
			bad("%s: name may hold letters, digits, '.', '_' and '-' only", where)
		case names[t.Name]:
			bad("%s: another tenant has the same name", where)
		}
		names[t.Name] = true
		if len(t.Hosts) == 0 {
			bad("%s: hosts is required (the host names the tenant answers)", where)
		}
		for _, h := range t.Hosts {
			n := strings.ToLower(strings.TrimSuffix(h, "."))
			if !hostName.MatchString(strings.TrimPrefix(n, "*.")) {
				bad("%s: host %q is not a host name or *.domain wildcard (no port, no scheme)", where, h)
				continue
			}
			if prev, ok := hosts[n]; ok {
				bad("%s: host %q is already tenant %q's", where, h, prev)
				continue
			}
			hosts[n] = t.Name
		}
		// The same rules as a route's limits and env.
		for _, m := range limitProblems(t.Limits.Limits) {
			bad("%s: limits: %s", where, m)
		}
		for _, m := range t.Limits.Outbound.problems(false) {
			bad("%s: limits: %s", where, m)
		}
		if t.Limits.BuildConcurrency < 0 {
			bad("%s: limits: build_concurrency must be positive", where)
		}
		for _, m := range envProblems(t.Env) {
			bad("%s: %s", where, m)
		}
		for _, m := range errorPageProblems(t.Errors) {
			bad("%s: %s", where, m)
		}
		// The tenant's routes follow the rules of the default site's; the
		// messages name the tenant through the file label.
		sub := &Config{File: fmt.Sprintf("%s: tenant %q", c.File, t.Name), Routes: t.Routes}
		if err := sub.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// parsePrefix reads "10.0.0.0/8" or a single address "127.0.0.1".
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// perSecond is the rate in requests per second.
func (r Rate) perSecond() float64 {
	if r.N == 0 || r.Per <= 0 {
		return math.Inf(1)
	}
	return float64(r.N) / r.Per.Seconds()
}

// buildScope is a scope's share of the builds: slots of its own, so that
// a tenant whose scripts build slowly (or never finish before
// build_timeout) holds only its own slots while another tenant's scripts
// build beside them.
type buildScope struct {
	once  sync.Once
	n     int // the tenant's build_concurrency; 0: the server's
	slots chan struct{}
}

// buildSlots are the scope's build slots, made on first use.
func (sc *scope) buildSlots(srv Server) chan struct{} {
	sc.builds.once.Do(func() {
		n := sc.builds.n
		if n <= 0 {
			n = srv.BuildConcurrency
		}
		if n <= 0 {
			n = DefaultServer.BuildConcurrency
		}
		sc.builds.slots = make(chan struct{}, n)
	})
	return sc.builds.slots
}
