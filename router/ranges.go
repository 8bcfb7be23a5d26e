package router

import (
	"net/http"
	"strings"
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
