package wptrack

import "testing"

// TestAvailable: on this kernel (6.7 or later) tracking works; elsewhere
// the reason is given.
func TestAvailable(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("tracking unavailable: %v", err)
	}
}
