package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"

	"code.dny.dev/ssrf"
)

// Which addresses a guest's outbound connections may reach. allowed_hosts
// names hosts; what they resolve to is checked here, on the address being
// dialled, for every connection a run makes (each redirect's too), after
// DNS: a name that resolves to a public address on the first lookup and to
// 127.0.0.1 on the second (DNS rebinding) gets nowhere. An entry naming the
// literal address and port (http://10.0.0.5:8080) is the one way past.

// registry refuses every range of IANA's IPv4 and IPv6 special-purpose
// address registries, multicast, and all IPv6 outside global unicast
// (2000::/3). code.dny.dev/ssrf generates these lists from the registries'
// published files, so a new assignment comes with a module update rather
// than an edit to a hand list that nobody rereads. It refuses a little more
// than "not globally reachable": the few special ranges IANA marks
// reachable (AS112, AMT, 6to4, Teredo) are refused too, and no API a guest
// would call lives there. Ports and networks are allowed_hosts' business.
var registry = ssrf.New(ssrf.WithAnyPort(), ssrf.WithAnyNetwork())

// reached is the address a connection to a ends at: a itself, the IPv4
// address of an IPv4-mapped one (::ffff:127.0.0.1), and for the well-known
// NAT64 prefix (RFC 6052) the IPv4 address in its last 32 bits, which the
// NAT64 gateway forwards to.
func reached(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if ssrf.IPv6NAT64Prefix.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	return a
}

// specialAddr is the registry's verdict on a: nil when a and the address
// it reaches are globally reachable. NAT64 is itself globally reachable,
// and an IPv6-only server behind DNS64 reaches every IPv4 API through it,
// so the IPv4 address it carries decides (the library alone would refuse
// the whole prefix).
func specialAddr(a netip.Addr) error {
	return registry.SafeAddr(reached(a))
}

// ownAddr reports whether any of as is an address of one of this server's
// network interfaces: a service bound to 0.0.0.0 answers there, whatever
// range the address is in. The interfaces are read at each call (one
// netlink dump, 24-45 us here, BenchmarkCheckAddr) and never cached, so an
// address that appears while the server runs (DHCP, a floating IP, a new
// interface) is refused from its first moment; only addresses the registry
// lets through pay for it.
func ownAddr(as ...netip.Addr) (bool, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false, err
	}
	for _, ia := range addrs {
		n, ok := ia.(*net.IPNet)
		if !ok {
			continue
		}
		b, ok := netip.AddrFromSlice(n.IP)
		if ok && slices.Contains(as, b.Unmap()) {
			return true, nil
		}
	}
	return false, nil
}

// checkAddr is the verdict on an address about to be dialled: nil, or an
// error wrapping errRefusedAddress that says why.
func (o *Policy) checkAddr(ap netip.AddrPort) error {
	ap = netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
	if o.literals[ap] {
		return nil
	}
	if err := specialAddr(ap.Addr()); err != nil {
		return fmt.Errorf("%w: %s: %w", errRefusedAddress, ap, err)
	}
	// A NAT64 address of one of the server's IPv4 addresses comes back to
	// it through the gateway.
	own, err := ownAddr(ap.Addr(), reached(ap.Addr()))
	if err != nil {
		// Unknown own addresses: refuse rather than guess.
		return fmt.Errorf("%w: %s: the server's own addresses cannot be read: %w", errRefusedAddress, ap, err)
	}
	if own {
		return fmt.Errorf("%w: %s is an address of this server", errRefusedAddress, ap)
	}
	return nil
}

// control runs for every connection, after DNS, with the address about to
// be dialled (a net.Dialer Control hook): the check that DNS rebinding
// cannot get around.
func (o *Policy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errRefusedAddress, address)
	}
	return o.checkAddr(ap)
}

// connected refuses a connection the kernel delivered to this host anyway:
// an address that appeared between control's look and the connect, or a
// range routed locally without being any interface's address (Linux's
// "ip route add local 198.51.0.0/16 dev lo"). For a local destination Linux
// picks the destination itself as the source address, so the two ends of
// such a connection have the same address. The service has then seen a
// connection open and close, but not one byte of the request.
func (o *Policy) connected(c net.Conn) error {
	local, ok1 := c.LocalAddr().(*net.TCPAddr)
	remote, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return nil
	}
	l, r := local.AddrPort(), remote.AddrPort()
	r = netip.AddrPortFrom(r.Addr().Unmap().WithZone(""), r.Port())
	if l.Addr().Unmap().WithZone("") != r.Addr() || o.literals[r] {
		return nil
	}
	return fmt.Errorf("%w: %s is routed to this server", errRefusedAddress, r)
}

// dial resolves through the policy's resolver and connects to the first
// address that passes control and connected.
func (o *Policy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Control: o.control}
	if _, err := netip.ParseAddr(host); err == nil {
		return o.dialOne(ctx, d, network, addr)
	}
	ips, err := o.lookup(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	var first error
	for _, ip := range ips {
		c, err := o.dialOne(ctx, d, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		if first == nil || errors.Is(err, errRefusedAddress) {
			first = err
		}
	}
	if first == nil {
		first = fmt.Errorf("lookup %s: no addresses", host)
	}
	return nil, first
}

func (o *Policy) dialOne(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if err := o.connected(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
