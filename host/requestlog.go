package host

import (
	"net/http"

	"github.com/rs/zerolog"
)

// requestLog is the logger of a request's own events, carrying its route,
// module and request id. It is made on first use: most requests log
// nothing here (their one event is the router's access log), and making it
// copies the logger's fields into a new buffer, an allocation per request
// for nothing.
type requestLog struct {
	h *Handler
	r *http.Request
	l *zerolog.Logger
}

func (l *requestLog) get() *zerolog.Logger {
	if l.l == nil {
		lg := l.h.logger(l.r)
		l.l = &lg
	}
	return l.l
}
