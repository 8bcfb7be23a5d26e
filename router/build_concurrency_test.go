package router

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host/seam"
)

// TestBuildConcurrencyConfig: build_concurrency is the server's default
// for each tenant, [tenant.limits] overrides it for one, and neither a
// route nor [defaults] may set it (the slots are the tenant's). Every
// scripts route of a tenant gets the same slots, and no other tenant
// gets them.
func TestBuildConcurrencyConfig(t *testing.T) {
	const site = "[[route]]\npath = \"/s/*\"\nscripts = \"s\"\n\n" +
		"[[tenant]]\nname = \"a\"\nhosts = [\"a.test\"]\n%s\n[[tenant.route]]\npath = \"/s/*\"\nscripts = \"s\"\n[[tenant.route]]\npath = \"/t/*\"\nscripts = \"s\"\n\n" +
		"[[tenant]]\nname = \"b\"\nhosts = [\"b.test\"]\n\n[[tenant.route]]\npath = \"/s/*\"\nscripts = \"s\"\n"
	tests := []struct {
		name, toml string
		def, a, b  int    // the slots of the default site, tenant a and tenant b
		err        string // "": valid
	}{
		{"defaults", fmt.Sprintf(site, ""), 1, 1, 1, ""},
		{"server", "[server]\nbuild_concurrency = 2\n" + fmt.Sprintf(site, ""), 2, 2, 2, ""},
		{"tenant override", "[server]\nbuild_concurrency = 2\n" + fmt.Sprintf(site, "limits = { build_concurrency = 3 }"), 2, 3, 2, ""},
		{"negative", fmt.Sprintf(site, "limits = { build_concurrency = -1 }"), 0, 0, 0,
			`/site/wasigate.toml: tenant #1 "a": limits: build_concurrency must be positive`},
		{"on a route", "[[route]]\npath = \"/x\"\nscripts = \"s\"\nbuild_concurrency = 2\n", 0, 0, 0, "unknown keys: route.build_concurrency"},
		{"in defaults", "[defaults]\nbuild_concurrency = 2\n", 0, 0, 0, "unknown keys: defaults.build_concurrency"},
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "s", "x.wat"), "(module)\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(strings.NewReader(tt.toml), filepath.Join(dir, "wasigate.toml"))
			if tt.err != "" {
				if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), dir, "/site"), tt.err) {
					t.Fatalf("got %v; want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := &slotsLoader{}
			site, err := Build(context.Background(), cfg, Options{Loader: l, Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			defer site.Close(context.Background())
			// The scripts routes in order: the default site's, a's two, b's.
			if len(l.slots) != 4 {
				t.Fatalf("%d scripts routes; want 4", len(l.slots))
			}
			for i, c := range []struct {
				who  string
				want int
			}{{"default site", tt.def}, {"tenant a /s", tt.a}, {"tenant a /t", tt.a}, {"tenant b", tt.b}} {
				if got := cap(l.slots[i]); got != c.want {
					t.Errorf("%s: %d build slots; want %d", c.who, got, c.want)
				}
			}
			if l.slots[1] != l.slots[2] || l.slots[0] == l.slots[1] || l.slots[1] == l.slots[3] || l.slots[0] == l.slots[3] {
				t.Errorf("a's two routes share slots: %v, with b's or the default site's: %v; want a's routes only",
					l.slots[1] == l.slots[2], l.slots[1] == l.slots[3] || l.slots[0] == l.slots[1])
			}
		})
	}
}

// slotsLoader is a fakeLoader that records each scripts route's build
// slots.
type slotsLoader struct {
	fakeLoader
	slots []chan struct{}
}

func (l *slotsLoader) Scripts(c seam.RunConfig, name func(string) string, built func(string, bool, time.Duration, seam.Snapshot)) seam.Scripts {
	l.slots = append(l.slots, c.BuildSlots)
	return l.fakeLoader.Scripts(c, name, built)
}
