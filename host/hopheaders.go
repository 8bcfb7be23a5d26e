package host

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// hopByHop are the response header fields that describe the connection or
// the message framing, not the response (RFC 9110 section 7.6.1, RFC 9112
// sections 6 and 9.6): the server alone decides them. A guest that writes
// them could send Transfer-Encoding twice, switch protocols (Upgrade) or
// keep a connection open the server wants closed. Proxy-* fields belong to
// proxies, never to an origin's script.
var hopByHop = map[string]bool{
	"Connection":        true,
	"Keep-Alive":        true,
	"Transfer-Encoding": true,
	"Te":                true,
	"Trailer":           true,
	"Upgrade":           true,
}

// dropHopByHop removes from h the hop-by-hop fields, those that its
// Connection field names (RFC 9110 section 7.6.1) and every Proxy-* field,
// and returns their names, sorted.
func dropHopByHop(h http.Header) []string {
	var dropped []string
	for _, v := range h["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" || !validName(tok) {
				continue
			}
			k := textproto.CanonicalMIMEHeaderKey(tok)
			if _, ok := h[k]; ok && !hopByHop[k] {
				delete(h, k)
				dropped = append(dropped, k)
			}
		}
	}
	for k := range h {
		if hopByHop[k] || strings.HasPrefix(k, "Proxy-") {
			delete(h, k)
			dropped = append(dropped, k)
		}
	}
	slices.Sort(dropped)
	return dropped
}

// logDropped logs one event per guest response header the server did not
// forward.
func (o *output) logDropped(names []string, why string) {
	if o.log == nil {
		return
	}
	for _, k := range names {
		o.log.get().Warn().Str("header", k).Msg("guest response header dropped: " + why)
	}
}
