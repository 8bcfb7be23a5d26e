package router

import (
	"errors"
	"net/http"
	"strings"

	"github.com/wasigate/wasigate/host"
)

// ErrHostAuthority is the error of an HTTP/2 request whose host header
// differs from its :authority.
var ErrHostAuthority = errors.New("host header differs from :authority (RFC 9113 section 8.3.1)")

// refuseHostMismatch answers 400 to an HTTP/2 request that carries a host
// header different from its :authority: RFC 9113 section 8.3.1 makes such
// a request malformed. net/http takes :authority for r.Host (which
// chooses the tenant) and leaves host among the headers, where the guest
// would have read it as HTTP_HOST: two names for one request. A host
// equal to :authority is dropped, so that the guest sees r.Host alone,
// the value the tenant was chosen by.
func refuseHostMismatch(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor >= 2 {
			if hosts, ok := r.Header["Host"]; ok {
				for _, h := range hosts {
					// Host names compare without case (RFC 3986 3.2.2).
					if !strings.EqualFold(h, r.Host) {
						info := host.InfoFrom(r.Context())
						info.Reason, info.Err = host.ReasonHost, ErrHostAuthority
						http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
						return
					}
				}
				r.Header.Del("Host")
			}
		}
		next.ServeHTTP(w, r)
	})
}
