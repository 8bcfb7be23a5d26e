package router

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestLiveBeforeFirstSite: the zero Live answers 503, not a panic.
func TestLiveBeforeFirstSite(t *testing.T) {
	srv := httptest.NewServer(&Live{})
	defer srv.Close()
	res, _ := get(t, srv.URL+"/")
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("status %d Retry-After %q; want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
}
