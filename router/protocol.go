package router

import (
	"errors"
	"net/http"
	"strings"

	"github.com/wasigate/wasigate/host"
)

// MaxRanges is the most byte ranges one request may ask for. Past it the
// Range header is dropped and the whole file is answered with 200, as
// Apache's MaxRanges (default 200) does: each range costs a part header
// and a seek, so thousands of tiny or overlapping ranges turn one small
// file into a large multipart answer and a burst of work (the "Apache
// Killer" request, CVE-2011-3192).
const MaxRanges = 200

// capRanges drops the Range header of a request that asks for more than
// MaxRanges ranges, for static files, X-Sendfile and guests alike (a
// guest then sees no HTTP_RANGE and answers the whole resource too).
func capRanges(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if vv := r.Header["Range"]; len(vv) > 0 && countRanges(vv) > MaxRanges {
			r.Header.Del("Range")
			r.Header.Del("If-Range")
		}
		next.ServeHTTP(w, r)
	})
}

// countRanges counts the ranges of Range values as net/http's parser
// reads them (RFC 9110 section 14.1.2): comma-separated, empty elements
// skipped. Every value counts, not only the first that net/http reads,
// so that a guest shown them all is bounded too. It stops past MaxRanges.
func countRanges(vv []string) int {
	n := 0
	for _, v := range vv {
		_, set, _ := strings.Cut(v, "=")
		for part := range strings.SplitSeq(set, ",") {
			if strings.TrimSpace(part) != "" {
				if n++; n > MaxRanges {
					return n
				}
			}
		}
	}
	return n
}

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
