package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

type hopsKey struct{}

// hopState is what an internal redirect carries to the next hop: one
// request is one deadline, whatever the hops
// (cmd/wasigate/DECISIONS.md#one-request-one-slot-one-deadline).
type hopState struct {
	n        int
	deadline time.Time // the first run's
}

// ErrRedirectLoop is the error of a request whose internal redirects went
// over DefaultMaxRedirects hops.
var ErrRedirectLoop = errors.New("internal redirect limit reached")

// redirect serves a local redirect (RFC 3875 section 6.2.2): the server
// answers with the resource at location, fetched as a GET, as if the client
// had asked for it. Hops are bounded so that a script redirecting to itself
// gets a 500, never a hang.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, location string, deadline time.Time, log *requestLog) {
	hop, _ := r.Context().Value(hopsKey{}).(hopState)
	hops := hop.n
	info := InfoFrom(r.Context())
	if hops >= DefaultMaxRedirects {
		report(r.Context(), log, ReasonRedirect, fmt.Errorf("%w: %d hops, last to %q", ErrRedirectLoop, hops, location))
		http.Error(w, "internal redirect limit reached", http.StatusInternalServerError)
		return
	}
	u, err := url.Parse(location)
	if err != nil {
		report(r.Context(), log, ReasonInvalid, fmt.Errorf("script sent an invalid Location: %w", err))
		http.Error(w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
		return
	}
	info.Redirects = hops + 1
	ctx := context.WithValue(r.Context(), hopsKey{}, hopState{n: hops + 1, deadline: deadline})
	nr := r.Clone(ctx)
	nr.Method = http.MethodGet
	nr.Body = http.NoBody
	nr.ContentLength = 0
	nr.Header.Del("Content-Length")
	nr.Header.Del("Content-Type")
	nr.URL = u
	nr.URL.Scheme, nr.URL.Host = "", ""
	nr.RequestURI = u.RequestURI()
	// The router may have stored routing state in the context; the new
	// request routes afresh from the root handler.
	h.PathLocationHandler.ServeHTTP(w, nr)
}
