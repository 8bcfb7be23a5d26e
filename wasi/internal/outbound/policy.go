package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is what New checks: the fields of the run configuration's
// outbound policy with its defaults already applied (the wasi package owns
// them), so that no limit here is zero.
type Config struct {
	AllowedHosts []string
	CapHosts     []string
	MaxRequests  int
	Timeout      time.Duration
	MaxBody      int64
	Slots        chan struct{}
	LookupIP     func(ctx context.Context, network, host string) ([]net.IP, error)
}

// AllowAll is WAGI's entry for "any host" (wasi-experimental-http's
// insecure:allow-all). Here it still reaches globally reachable addresses
// only, never the server's own (addr.go).
const AllowAll = "insecure:allow-all"

// Policy is a checked Config, shared by the runs of a route.
type Policy struct {
	allow, cap  []hostRule
	capped      bool
	literals    map[netip.AddrPort]bool // blocked addresses an entry names
	maxRequests int
	timeout     time.Duration
	maxBody     int64
	slots       chan struct{}
	lookup      func(ctx context.Context, network, host string) ([]net.IP, error)
}

// hostRule is one allowed_hosts entry.
type hostRule struct {
	any      bool   // insecure:allow-all
	scheme   string // http or https
	host     string // lower case; for a wildcard, the suffix with its dot (".example.com")
	wildcard bool
	port     int
}

// ErrAllowedHost is wrapped by every invalid allowed_hosts entry.
var ErrAllowedHost = errors.New("invalid allowed_hosts entry")

// ParseAllowedHost checks one allowed_hosts entry, for configuration
// validation.
func ParseAllowedHost(s string) error {
	_, err := parseHostRule(s)
	return err
}

func parseHostRule(s string) (hostRule, error) {
	if s == AllowAll {
		return hostRule{any: true}, nil
	}
	bad := func(why string) (hostRule, error) {
		return hostRule{}, fmt.Errorf("%w %q: %s (want scheme://host[:port], host may start with *.)", ErrAllowedHost, s, why)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return bad("no scheme")
	}
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return bad("scheme must be http or https")
	}
	rest = strings.TrimSuffix(rest, "/")
	if strings.ContainsAny(rest, "/?#@") {
		return bad("only a host and a port")
	}
	r := hostRule{scheme: scheme}
	if h, ok := strings.CutPrefix(rest, "*."); ok {
		r.wildcard = true
		rest = h
	}
	// url.Parse understands [v6]:port.
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil || u.Hostname() == "" {
		return bad("no host")
	}
	r.host, r.port, err = hostPort(u)
	if err != nil {
		return bad(err.Error())
	}
	if r.wildcard {
		if _, err := netip.ParseAddr(r.host); err == nil {
			return bad("a wildcard needs a domain name")
		}
		r.host = "." + r.host
	}
	return r, nil
}

// hostPort is u's lower-case host and its port, the scheme's default when
// none is given.
func hostPort(u *url.URL) (string, int, error) {
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	p := u.Port()
	if p == "" {
		if u.Scheme == "https" {
			return host, 443, nil
		}
		return host, 80, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, n, nil
}

// matches reports whether a request to scheme://host:port fits the rule.
func (r hostRule) matches(scheme, host string, port int) bool {
	if r.any {
		return true
	}
	if r.scheme != scheme || r.port != port {
		return false
	}
	if r.wildcard {
		return strings.HasSuffix(host, r.host) && len(host) > len(r.host)
	}
	return host == r.host
}

func parseRules(list []string) ([]hostRule, error) {
	var out []hostRule
	var errs []error
	for _, s := range list {
		r, err := parseHostRule(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// New checks p and returns the policy the runs of a route share.
func New(p Config) (*Policy, error) {
	allow, err := parseRules(p.AllowedHosts)
	if err != nil {
		return nil, err
	}
	capRules, err := parseRules(p.CapHosts)
	if err != nil {
		return nil, err
	}
	o := &Policy{
		allow: allow, cap: capRules, capped: p.CapHosts != nil,
		literals:    map[netip.AddrPort]bool{},
		maxRequests: p.MaxRequests, timeout: p.Timeout, maxBody: p.MaxBody,
		slots: p.Slots, lookup: p.LookupIP,
	}
	if o.maxRequests <= 0 || o.timeout <= 0 || o.maxBody <= 0 {
		return nil, fmt.Errorf("%w: MaxRequests %d, Timeout %v and MaxBody %d must be positive (the caller applies the defaults)", errLimits, o.maxRequests, o.timeout, o.maxBody)
	}
	if o.lookup == nil {
		o.lookup = net.DefaultResolver.LookupIP
	}
	// An entry that names a literal address lets the guest reach it even
	// when it is loopback, private, reserved or the server's own: the
	// operator asked for exactly that address and port.
	for _, r := range allow {
		if a, err := netip.ParseAddr(strings.Trim(r.host, "[]")); err == nil && !r.wildcard && o.allowed(r.scheme, r.host, r.port) {
			o.literals[netip.AddrPortFrom(a.Unmap().WithZone(""), uint16(r.port))] = true
		}
	}
	return o, nil
}

// allowed reports whether the route's list, and the tenant's if any, let
// a request to scheme://host:port through.
func (o *Policy) allowed(scheme, host string, port int) bool {
	if o == nil {
		return false
	}
	in := func(rules []hostRule) bool {
		for _, r := range rules {
			if r.matches(scheme, host, port) {
				return true
			}
		}
		return false
	}
	return in(o.allow) && (!o.capped || in(o.cap))
}

// checkURL is the policy's verdict on a URL before any connection:
// errRefusedHost when no entry allows it.
func (o *Policy) checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q", errRefusedHost, u.Scheme)
	}
	host, port, err := hostPort(u)
	if err != nil || host == "" {
		return fmt.Errorf("%w: %s", errBadURL, u.Redacted())
	}
	if !o.allowed(u.Scheme, host, port) {
		return fmt.Errorf("%w: %s://%s", errRefusedHost, u.Scheme, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return nil
}

var (
	errLimits         = errors.New("outbound policy limits unset")
	errRefusedHost    = errors.New("host not in allowed_hosts")
	errRefusedAddress = errors.New("address not allowed")
	errBadURL         = errors.New("invalid url")
)

// acquire waits for a slot of the policy's Slots until ctx ends.
func (o *Policy) acquire(ctx context.Context) error {
	if o.slots == nil {
		return nil
	}
	select {
	case o.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *Policy) release() {
	if o.slots != nil {
		<-o.slots
	}
}
