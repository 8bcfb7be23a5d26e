package metrics

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// TestOutbound: outbound requests are counted by tenant, host and outcome,
// so that an operator sees what guests reach and what is refused.
func TestOutbound(t *testing.T) {
	m := New()
	m.Outbound("acme", "https://api.example:443", "ok")
	m.Outbound("acme", "https://api.example:443", "ok")
	m.Outbound("", "other", "refused")
	tests := []struct {
		tenant, host, outcome string
		want                  float64
	}{
		{"acme", "https://api.example:443", "ok", 2},
		{"", "other", "refused", 1},
		{"acme", "other", "refused", 0},
	}
	for _, tt := range tests {
		var pb dto.Metric
		if err := m.outbound.WithLabelValues(tt.tenant, tt.host, tt.outcome).Write(&pb); err != nil {
			t.Fatal(err)
		}
		if got := pb.GetCounter().GetValue(); got != tt.want {
			t.Errorf("%s %s %s: got %v; want %v", tt.tenant, tt.host, tt.outcome, got, tt.want)
		}
	}
}
