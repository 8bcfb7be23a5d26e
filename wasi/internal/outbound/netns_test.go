//go:build linux

package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The own-address check matters most for an address the registry lets
// through: a server's public address. The machines tests run on rarely
// have one (their addresses are private, and refused anyway), and giving
// the machine one would be wrong, so this test runs again in a network
// namespace of its own, where it gives a veth interface public addresses
// that lead nowhere: no route leaves the namespace.

const netnsEnv = "WASIGATE_TEST_NETNS"

// netnsMissing is the line the child prints when it cannot make its
// interface, so that the parent skips (or fails under
// WASIGATE_REQUIRE_TOOLCHAINS) with the reason.
const netnsMissing = "NETNS UNAVAILABLE: "

var (
	nsOwn4  = netip.MustParseAddr("100.128.0.2")       // just past CGNAT's 100.64/10: public
	nsOwn6  = netip.MustParseAddr("2606:4700:ffff::2") // global unicast, no special range
	nsLocal = netip.MustParseAddr("100.128.1.5")       // in a range routed locally, no interface's
)

// TestOutboundOwnAddressNetns: in a network namespace, a guest under
// insecure:allow-all cannot reach a service bound to 0.0.0.0 or [::]
// through this host's public interface addresses, even ones added after
// the policy was made, nor through an address of a range routed to this
// host that no interface lists; an entry naming the address and port
// reaches exactly that one.
func TestOutboundOwnAddressNetns(t *testing.T) {
	if os.Getenv(netnsEnv) == "" {
		runInNetns(t)
		return
	}
	p := outboundProgram(t)
	// The policy is made before the addresses exist: the check must see
	// addresses that appear while the server runs.
	allowAll := &Config{AllowedHosts: []string{AllowAll}}
	if _, err := newPolicy(*allowAll); err != nil {
		t.Fatal(err)
	}
	netnsSetup(t)
	svc4, svc6 := newSecretService(t, "tcp4"), newSecretService(t, "tcp6")
	if own := ownAddrs(t); len(own) < 2 {
		t.Fatalf("got own addresses %v; want %s and %s", own, nsOwn4, nsOwn6)
	}

	tests := []struct {
		name string
		url  string
		pol  *Config
		why  string // in the refusal; "" means reached
		svc  *secretService
	}{
		{"own IPv4 address", urlOf(nsOwn4, svc4.port), allowAll, "an address of this server", svc4},
		{"own IPv6 address", urlOf(nsOwn6, svc6.port), allowAll, "an address of this server", svc6},
		{"own address by name", "http://api.example:" + strconv.Itoa(svc4.port) + "/", &Config{
			AllowedHosts: []string{AllowAll},
			LookupIP: func(context.Context, string, string) ([]net.IP, error) {
				return []net.IP{nsOwn4.AsSlice()}, nil
			}}, "an address of this server", svc4},
		{"NAT64 of own IPv4 address", urlOf(netip.MustParseAddr("64:ff9b::6480:2"), svc4.port), allowAll, "an address of this server", svc4},
		{"range routed to this host", urlOf(nsLocal, svc4.port), allowAll, "routed to this server", svc4},
		{"loopback", urlOf(netip.MustParseAddr("127.0.0.1"), svc4.port), allowAll, "prohibited IP address", svc4},
		{"own IPv4 address named", urlOf(nsOwn4, svc4.port), named(nsOwn4, svc4.port), "", svc4},
		{"own IPv6 address named", urlOf(nsOwn6, svc6.port), named(nsOwn6, svc6.port), "", svc6},
		{"loopback named", urlOf(netip.MustParseAddr("127.0.0.1"), svc4.port), named(netip.MustParseAddr("127.0.0.1"), svc4.port), "", svc4},
		{"named address, another local one", urlOf(nsLocal, svc4.port), named(nsOwn4, svc4.port), "routed to this server", svc4},
		{"named address, another port", urlOf(nsOwn4, svc4.port), named(nsOwn4, svc4.port+1), "an address of this server", svc4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.why == "" {
				expectReached(t, p, tt.pol, tt.url)
				return
			}
			ev := expectRefused(t, p, tt.pol, tt.url, tt.svc)
			if ev.Err == nil || !strings.Contains(ev.Err.Error(), tt.why) {
				t.Errorf("got error %v; want one saying %q", ev.Err, tt.why)
			}
		})
	}
}

// named is insecure:allow-all plus an entry naming a:port.
func named(a netip.Addr, port int) *Config {
	return &Config{AllowedHosts: []string{AllowAll, strings.TrimSuffix(urlOf(a, port), "/")}}
}

// netnsSetup brings the namespace's loopback up, gives a veth interface
// nsOwn4 and nsOwn6, and routes nsLocal's /24 to this host.
func netnsSetup(t *testing.T) {
	t.Helper()
	cmds := [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "own0", "type", "veth", "peer", "name", "peer0"},
		{"addr", "add", nsOwn4.String() + "/32", "dev", "own0"},
		{"-6", "addr", "add", nsOwn6.String() + "/128", "dev", "own0", "nodad"},
		{"link", "set", "own0", "up"},
		{"link", "set", "peer0", "up"},
		{"route", "add", "local", netip.PrefixFrom(nsLocal, 24).Masked().String(), "dev", "lo"},
	}
	for _, args := range cmds {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Skipf("%sip %s: %v %s", netnsMissing, strings.Join(args, " "), err, out)
		}
	}
	// The kernel adds the IPv6 address's local route once the link is
	// up, a moment after the commands return: until then a connection
	// to it finds no route to host.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, _ := exec.Command("ip", "-6", "route", "show", "table", "local").CombinedOutput()
		if strings.Contains(string(out), "local "+nsOwn6.String()+" ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no local route for %s 5s after adding it:\n%s", nsOwn6, out)
		}
	}
}

// runInNetns runs the calling test again in a child process in a new
// network namespace (and a user namespace when not root, or when root
// lacks CAP_SYS_ADMIN, as in a container), and reports its result.
func runInNetns(t *testing.T) {
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := "THE OWN-ADDRESS CHECK IS NOT TESTED ON A PUBLIC ADDRESS: " + strings.TrimPrefix(fmt.Sprintf(format, args...), netnsMissing)
		if os.Getenv("WASIGATE_REQUIRE_TOOLCHAINS") != "" {
			t.Fatal(msg + " (WASIGATE_REQUIRE_TOOLCHAINS is set: iproute2's ip and network namespaces are needed)")
		}
		t.Skip(msg)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable("no ip command (iproute2) to make an interface in a network namespace: %v", err)
	}
	attempts := []*syscall.SysProcAttr{{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}}
	if os.Getuid() == 0 {
		attempts = append([]*syscall.SysProcAttr{{Cloneflags: syscall.CLONE_NEWNET}}, attempts...)
	}
	var errs []string
	for _, attr := range attempts {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v", "-test.timeout=150s")
		cmd.Env = append(os.Environ(), netnsEnv+"=1")
		attr.Pdeathsig = syscall.SIGKILL
		cmd.SysProcAttr = attr
		out, err := cmd.CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			errs = append(errs, err.Error()) // the namespace could not be made
			continue
		}
		text := string(out)
		if i := strings.Index(text, netnsMissing); i >= 0 {
			line, _, _ := strings.Cut(text[i:], "\n")
			unavailable("%s", line)
		}
		t.Logf("in a network namespace:\n%s", text)
		if err != nil || !strings.Contains(text, "--- PASS: "+t.Name()) {
			t.Fatalf("the test in its namespace failed (%v)", err)
		}
		return
	}
	unavailable("cannot make a network namespace: %s", strings.Join(errs, "; "))
}
