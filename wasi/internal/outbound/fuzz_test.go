package outbound

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// FuzzGuestHeaders: the header lines a guest passes to req never panic
// the parser, and what it accepts holds only token names and values
// without control characters but tab.
func FuzzGuestHeaders(f *testing.F) {
	for _, s := range []string{"", "a:b\n", "Content-Type: text/plain\r\nX-A:1\n\n", "no colon\n", "x:\x00\n", ":v\n", "a b:c\n", "k:v\tw\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseGuestHeaders(s)
		if err != nil {
			return
		}
		for k, vs := range h {
			if !validMethod(k) {
				t.Fatalf("accepted name %q", k)
			}
			for _, v := range vs {
				if strings.ContainsFunc(v, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }) {
					t.Fatalf("accepted value %q", v)
				}
			}
		}
	})
}

// notGlobal is the oracle for FuzzOutboundAddr, written from IANA's IPv4
// and IPv6 special-purpose address registries independently of the
// library the policy uses: every range whose "Globally Reachable" is
// False, and multicast. Where IANA marks a smaller range inside one of
// them reachable (192.0.0.9/32, 2001:3::/32), the oracle keeps the larger
// one: the policy refuses those too, which is allowed.
var notGlobal = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
		"192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
		"224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
		"::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "100:0:0:1::/64", "2001::/23",
		"2001:2::/48", "2001:10::/28", "2001:db8::/32", "3fff::/20", "5f00::/16",
		"fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// FuzzOutboundAddr: the dial-time address check never panics on what a
// dialer hands it; an address in a range IANA lists as not globally
// reachable is refused in every spelling (plain, IPv4-mapped, NAT64);
// the spellings of one IPv4 address get one verdict; and an entry naming
// an address lets exactly that address and port through.
func FuzzOutboundAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:80", "[::ffff:192.0.2.2]:8080", "[fe80::1%eth0]:80", "[64:ff9b::c633:6407]:443", "8.8.8.8:53", "x", "[::]:0", "1.2.3.4:99999"} {
		f.Add(s, []byte{192, 0, 2, 2}, uint16(80))
	}
	f.Add("", []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint16(443))
	f.Add("", []byte{93, 184, 216, 34}, uint16(443))
	allowAll, err := newPolicy(Config{AllowedHosts: []string{AllowAll}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string, raw []byte, port uint16) {
		// What a dialer might pass: anything at all.
		if err := allowAll.control("tcp", text, nil); err == nil {
			if _, perr := netip.ParseAddrPort(text); perr != nil {
				t.Fatalf("control(%q) = nil for an address that does not parse", text)
			}
		}
		a, ok := netip.AddrFromSlice(raw)
		if !ok || port == 0 {
			return
		}
		ap := netip.AddrPortFrom(a, port)
		verdict := allowAll.checkAddr(ap)
		if verdict != nil && !errors.Is(verdict, errRefusedAddress) {
			t.Fatalf("checkAddr(%s) = %v; want errRefusedAddress", ap, verdict)
		}
		r := reached(a)
		for _, p := range notGlobal {
			if p.Contains(r) && verdict == nil {
				t.Fatalf("checkAddr(%s) allowed an address in %s", ap, p)
			}
		}
		if r.Is4() {
			b := r.As4()
			for _, alt := range []netip.Addr{r, netip.AddrFrom16(netip.AddrFrom4(b).As16()), netip.AddrFrom16([16]byte{0, 0x64, 0xff, 0x9b, 10: 0, 11: 0, 12: b[0], 13: b[1], 14: b[2], 15: b[3]})} {
				if got := allowAll.checkAddr(netip.AddrPortFrom(alt, port)); (got == nil) != (verdict == nil) {
					t.Fatalf("checkAddr(%s) = %v but checkAddr(%s) = %v; want one verdict", alt, got, ap, verdict)
				}
			}
		}
		entry := "http://" + netip.AddrPortFrom(a.WithZone(""), port).String()
		named, err := newPolicy(Config{AllowedHosts: []string{AllowAll, entry}})
		if err != nil {
			t.Fatalf("entry %q: %v", entry, err)
		}
		if err := named.checkAddr(ap); err != nil {
			t.Fatalf("entry %q: checkAddr(%s) = %v; want allowed", entry, ap, err)
		}
		other := netip.AddrPortFrom(a, port^1)
		if got, want := named.checkAddr(other), allowAll.checkAddr(other); (got == nil) != (want == nil) {
			t.Fatalf("entry %q: checkAddr(%s) = %v; want %v as without it", entry, other, got, want)
		}
	})
}
