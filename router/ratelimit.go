package router

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host"
)

// bucket is a token bucket: it holds up to burst tokens, refills at rate
// tokens a second, and each request takes one.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	what   Rate
}

func newBucket(r Rate) *bucket {
	return &bucket{rate: r.perSecond(), burst: float64(r.N), tokens: float64(r.N), what: r}
}

// take takes a token, or says how long until one is there.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// rateLimit answers 429 with Retry-After to a request that finds b
// empty. A nil bucket (a tenant without rate) lets all through.
func rateLimit(b *bucket) func(http.Handler) http.Handler {
	if b == nil {
		return passThrough
	}
	return b.wrap
}

func (b *bucket) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, retry := b.take(time.Now())
		if !ok {
			info := host.InfoFrom(r.Context())
			info.Reason = host.ReasonRate
			zerolog.Ctx(r.Context()).Warn().Str("route", info.Route).Str("module", info.Module).
				Str("rate", b.what.String()).Msg("tenant over its request rate")
			// Retry-After is in whole seconds (RFC 9110 section 10.2.3).
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(retry.Seconds())))))
			http.Error(w, "too many requests", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}
