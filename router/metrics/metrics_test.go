package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wasigate/wasigate/host"
)

// TestMetrics: what the hooks record is what /metrics serves, with the
// labels an operator queries by.
func TestMetrics(t *testing.T) {
	m := New()
	r := httptest.NewRequest("GET", "/x", nil)
	m.Observe(r, &host.Info{Tenant: "a", Route: "/x", Instantiate: time.Millisecond}, 200, 5*time.Millisecond)
	m.Observe(r, &host.Info{Tenant: "a", Route: "/x", Reason: "timeout"}, 504, time.Second)
	m.Running("a", "/x", 1)
	m.Running("a", "/x", 1)
	m.Running("a", "/x", -1)
	m.Loaded(true, []bool{true, false, true})
	m.Loaded(false, nil)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	got := string(b)
	for _, want := range []string{
		`wasigate_requests_total{route="/x",status="200",tenant="a"} 1`,
		`wasigate_requests_total{route="/x",status="504",tenant="a"} 1`,
		`wasigate_rejections_total{reason="timeout",route="/x",tenant="a"} 1`,
		`wasigate_instantiate_seconds_count{route="/x",tenant="a"} 1`,
		`wasigate_instances_in_flight{route="/x",tenant="a"} 1`,
		`wasigate_module_loads_total{cache="hit"} 2`,
		`wasigate_module_loads_total{cache="miss"} 1`,
		`wasigate_modules 3`,
		`wasigate_reloads_total{result="ok"} 1`,
		`wasigate_reloads_total{result="rejected"} 1`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("/metrics has no line %q", want)
		}
	}
}
