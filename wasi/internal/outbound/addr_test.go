package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// secretService is a service that trusts whoever reaches it, bound to every
// address of the machine (0.0.0.0 or [::]), as an admin port or a
// metadata agent is. It counts the requests that reach it.
type secretService struct {
	port int
	hits atomic.Int64
}

const secret = "secret=hunter2"

func newSecretService(t *testing.T, network string) *secretService {
	t.Helper()
	addr := "0.0.0.0:0"
	if network == "tcp6" {
		addr = "[::]:0"
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatalf("listen %s %s: %v", network, addr, err)
	}
	s := &secretService{port: ln.Addr().(*net.TCPAddr).Port}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		fmt.Fprint(w, secret)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// urlOf is http://addr:port/ with IPv6 in brackets.
func urlOf(a netip.Addr, port int) string {
	return "http://" + net.JoinHostPort(a.String(), strconv.Itoa(port)) + "/"
}

// expectRefused runs the guest's one fetch of url under pol and checks that
// the guest got "destination not allowed", that exactly one refused event
// with reason address was reported (the request's log event), and that
// the service saw no request.
func expectRefused(t *testing.T, p *guest, pol *Config, url string, svc *secretService) Event {
	t.Helper()
	before := int64(0)
	if svc != nil {
		before = svc.hits.Load()
	}
	out, events, err := runOutbound(t, p, pol, 10*time.Second, "URL="+url)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "req 1: rc=7 (destination not allowed) status=0\n") || strings.Contains(out, secret) {
		t.Errorf("%s: got guest output\n%s\nwant rc=7 and no secret", url, out)
	}
	if len(events) != 1 {
		t.Fatalf("%s: got %d events %+v; want 1", url, len(events), events)
	}
	ev := events[0]
	if ev.Outcome != "refused" || ev.Reason != "address" || !errors.Is(ev.Err, errRefusedAddress) {
		t.Errorf("%s: got event %s/%s (%v); want refused/address wrapping errRefusedAddress", url, ev.Outcome, ev.Reason, ev.Err)
	}
	if svc != nil && svc.hits.Load() != before {
		t.Errorf("%s: the service got %d requests; want none", url, svc.hits.Load()-before)
	}
	return ev
}

// expectReached runs the guest's fetch of url under pol and checks that
// it read the service's answer.
func expectReached(t *testing.T, p *guest, pol *Config, url string) {
	t.Helper()
	out, events, err := runOutbound(t, p, pol, 10*time.Second, "URL="+url)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "req 1: rc=0 (success) status=200\n") || !strings.Contains(out, "body="+secret) {
		t.Errorf("%s: got guest output\n%s\nwant status 200 and the body", url, out)
	}
	if len(events) != 1 || events[0].Outcome != "ok" {
		t.Errorf("%s: got events %+v; want one ok", url, events)
	}
}

// refusedClasses are an address of each IANA special-purpose range that is
// not globally reachable, plus the forms that hide one (IPv4-mapped,
// NAT64, 6to4), and the registry's globally reachable ranges that the
// library refuses as well (AS112, AMT, Teredo).
var refusedClasses = []struct{ class, addr string }{
	{"this network (RFC 791)", "0.0.0.1"},
	{"unspecified", "0.0.0.0"},
	{"private 10/8", "10.1.2.3"},
	{"shared CGNAT (RFC 6598)", "100.64.0.1"},
	{"loopback", "127.0.0.1"},
	{"loopback elsewhere in 127/8", "127.8.9.1"},
	{"link-local, cloud metadata", "169.254.169.254"},
	{"private 172.16/12", "172.31.255.254"},
	{"IETF protocol assignments", "192.0.0.8"},
	{"TEST-NET-1 (RFC 5737)", "192.0.2.2"},
	{"AS112", "192.31.196.1"},
	{"AMT", "192.52.193.1"},
	{"6to4 relay anycast", "192.88.99.1"},
	{"private 192.168/16", "192.168.1.1"},
	{"direct delegation AS112", "192.175.48.1"},
	{"benchmarking (RFC 2544)", "198.18.0.1"},
	{"TEST-NET-2 (RFC 5737)", "198.51.100.7"},
	{"TEST-NET-3 (RFC 5737)", "203.0.113.9"},
	{"multicast", "224.0.0.1"},
	{"reserved 240/4", "240.0.0.1"},
	{"limited broadcast", "255.255.255.255"},
	{"IPv6 loopback", "::1"},
	{"IPv6 unspecified", "::"},
	{"IPv4-mapped loopback", "::ffff:127.0.0.1"},
	{"IPv4-mapped TEST-NET-2", "::ffff:198.51.100.7"},
	{"IPv4-compatible (deprecated)", "::7f00:1"},
	{"NAT64 of TEST-NET-1", "64:ff9b::c000:202"},
	{"NAT64 of metadata", "64:ff9b::a9fe:a9fe"},
	{"local-use NAT64 (RFC 8215)", "64:ff9b:1::1"},
	{"discard-only (RFC 6666)", "100::1"},
	{"Teredo", "2001::1"},
	{"benchmarking IPv6", "2001:2::1"},
	{"ORCHIDv2", "2001:20::1"},
	{"documentation 2001:db8::/32", "2001:db8::1"},
	{"6to4 of loopback", "2002:7f00:1::1"},
	{"documentation 3fff::/20", "3fff::1"},
	{"SRv6 SIDs (RFC 9602)", "5f00::1"},
	{"unique local fc00::/7", "fd00::2"},
	{"cloud metadata IPv6", "fd00:ec2::254"},
	{"link-local IPv6", "fe80::1"},
	{"multicast IPv6", "ff02::1"},
}

// TestAddrVerdicts: the address check alone, on every refused class and on
// globally reachable addresses, NAT64 of a public address among them.
func TestAddrVerdicts(t *testing.T) {
	o, err := newPolicy(Config{AllowedHosts: []string{AllowAll, "http://10.0.0.5:8080", "http://[fd00::5]:8080"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range refusedClasses {
		ap := netip.AddrPortFrom(netip.MustParseAddr(c.addr), 80)
		if err := o.checkAddr(ap); !errors.Is(err, errRefusedAddress) {
			t.Errorf("%s %s: got %v; want refused", c.class, ap, err)
		}
	}
	for _, s := range []string{"93.184.216.34:80", "8.8.8.8:443", "100.128.0.1:80", "172.32.0.1:80", "[2606:4700::1111]:443", "[64:ff9b::808:808]:80", "10.0.0.5:8080", "[fd00::5]:8080", "[::ffff:10.0.0.5]:8080"} {
		if err := o.control("tcp", s, nil); err != nil {
			t.Errorf("control(%s) = %v; want allowed", s, err)
		}
	}
	// A literal entry is that address and that port only.
	for _, s := range []string{"10.0.0.5:8081", "10.0.0.6:8080", "[fd00::5]:80"} {
		if err := o.control("tcp", s, nil); !errors.Is(err, errRefusedAddress) {
			t.Errorf("control(%s) = %v; want refused", s, err)
		}
	}
}

// TestOutboundRefusedRanges: under insecure:allow-all, a guest's fetch of
// an address in each refused class, written in the URL or returned by DNS,
// answers the guest "destination not allowed" and reports one refused
// event. The service listens on every address, so an address of this
// machine that slipped through would be answered.
func TestOutboundRefusedRanges(t *testing.T) {
	p := outboundProgram(t)
	svc := newSecretService(t, "tcp4")
	for _, c := range refusedClasses {
		t.Run(c.class, func(t *testing.T) {
			a := netip.MustParseAddr(c.addr)
			pol := &Config{AllowedHosts: []string{AllowAll}}
			expectRefused(t, p, pol, urlOf(a, svc.port), svc)
			byName := &Config{AllowedHosts: []string{AllowAll},
				LookupIP: func(context.Context, string, string) ([]net.IP, error) { return []net.IP{a.AsSlice()}, nil }}
			expectRefused(t, p, byName, "http://api.example:"+strconv.Itoa(svc.port)+"/", svc)
		})
	}
}

// ownAddrs are this machine's non-loopback interface addresses a guest
// could dial without a zone.
func ownAddrs(t *testing.T) []netip.Addr {
	t.Helper()
	ias, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatalf("interface addresses: %v", err)
	}
	var out []netip.Addr
	for _, ia := range ias {
		n, ok := ia.(*net.IPNet)
		if !ok {
			continue
		}
		a, ok := netip.AddrFromSlice(n.IP)
		if a = a.Unmap(); ok && !a.IsLoopback() && !a.IsLinkLocalUnicast() {
			out = append(out, a)
		}
	}
	return out
}

// TestOutboundOwnAddress: a service bound to every address, reached
// through one of this machine's own interface addresses, is refused under
// insecure:allow-all; an entry naming that address and port reaches it.
// Loopback is refused the same way unless named.
func TestOutboundOwnAddress(t *testing.T) {
	p := outboundProgram(t)
	svc4, svc6 := newSecretService(t, "tcp4"), newSecretService(t, "tcp6")
	addrs := append(ownAddrs(t), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"))
	if len(addrs) == 2 {
		t.Log("THIS MACHINE HAS NO NON-LOOPBACK INTERFACE ADDRESS: only loopback is tried here; TestOutboundOwnAddressNetns makes one in a network namespace")
	}
	for _, a := range addrs {
		t.Run(a.String(), func(t *testing.T) {
			svc := svc4
			if a.Is6() {
				svc = svc6
			}
			url := urlOf(a, svc.port)
			expectRefused(t, p, &Config{AllowedHosts: []string{AllowAll}}, url, svc)
			expectReached(t, p, &Config{AllowedHosts: []string{strings.TrimSuffix(url, "/")}}, url)
		})
	}
}

// BenchmarkCheckAddr: the verdict on a globally reachable address, the
// case that reads the server's interfaces; it runs once per connection.
func BenchmarkCheckAddr(b *testing.B) {
	o, err := newPolicy(Config{AllowedHosts: []string{AllowAll}})
	if err != nil {
		b.Fatal(err)
	}
	ap := netip.MustParseAddrPort("93.184.216.34:443")
	b.ReportAllocs()
	for b.Loop() {
		if err := o.checkAddr(ap); err != nil {
			b.Fatal(err)
		}
	}
}
