package router

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestOutboundConfig: the outbound keys' defaults, the tenant's cap, and
// misconfigurations that fail at startup naming file and route.
func TestOutboundConfig(t *testing.T) {
	tests := []struct {
		name, toml, err string
	}{
		{"entry without scheme", "[[route]]\npath = \"/x\"\nmodule = \"x.wasm\"\nallowed_hosts = [\"api.example.com\"]\n",
			`/site/wasigate.toml: route #1 "/x": invalid allowed_hosts entry "api.example.com": no scheme`},
		{"concurrency on a route", "[[route]]\npath = \"/x\"\nmodule = \"x.wasm\"\noutbound_concurrency = 2\n",
			`/site/wasigate.toml: route #1 "/x": outbound_concurrency is per tenant`},
		{"tenant entry with a path", "[[tenant]]\nname = \"a\"\nhosts = [\"a.test\"]\nlimits = { allowed_hosts = [\"https://a.test/x\"] }\n",
			`tenant #1 "a": limits: invalid allowed_hosts entry "https://a.test/x"`},
		{"negative requests", "[defaults]\noutbound_requests = -1\n[[route]]\npath = \"/x\"\nmodule = \"x.wasm\"\n",
			`[defaults]: outbound_requests and outbound_concurrency must be positive`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(tt.toml), "/site/wasigate.toml")
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("got %v; want an error containing %q", err, tt.err)
			}
		})
	}
	cfg, err := ParseConfig(strings.NewReader(`
[[tenant]]
name = "a"
hosts = ["a.test"]
limits = { outbound_requests = 4, outbound_timeout = "2s" }
[[tenant.route]]
path = "/x"
module = "x.wasm"
outbound_requests = 8
allowed_hosts = ["https://api.example.com"]
`), "/site/wasigate.toml")
	if err != nil {
		t.Fatal(err)
	}
	tl := cfg.Tenants[0].Limits.Limits
	sc := &scope{defaults: tl.Or(DefaultLimits), caps: tl}
	got := sc.limits(&cfg.Tenants[0].Routes[0]).Outbound
	want := Outbound{AllowedHosts: []string{"https://api.example.com"}, OutboundRequests: 4, OutboundTimeout: Duration(2 * time.Second), OutboundMaxBody: 10 << 20, OutboundConcurrency: 16}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v; want %+v", got, want)
	}
}

// TestAllowedHostProblem: router's startup check accepts and refuses the
// same entries as wasi's parser (wasi.TestParseAllowedHost's table).
func TestAllowedHostProblem(t *testing.T) {
	tests := []struct {
		entry string
		ok    bool
	}{
		{"https://api.example.com", true},
		{"http://127.0.0.1:8080", true},
		{"https://*.example.com", true},
		{"http://[::1]:8080/", true},
		{"insecure:allow-all", true},
		{"api.example.com", false},
		{"ftp://api.example.com", false},
		{"https://api.example.com/path", false},
		{"https://*.10.0.0.1", false},
		{"https://user@api.example.com", false},
		{"https://api.example.com:99999", false},
	}
	for _, tt := range tests {
		if got := allowedHostProblem(tt.entry); (got == "") != tt.ok {
			t.Errorf("allowedHostProblem(%q) = %q; want ok %v", tt.entry, got, tt.ok)
		}
	}
}
