package router

import (
	"net/http"
	"runtime/debug"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host"
)

// recoverer turns a panic in a handler into a 500 and a log event with the
// stack. http.ErrAbortHandler, the deliberate way to abort a response that
// has started, passes through.
func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			info := host.InfoFrom(r.Context())
			info.Reason = host.ReasonPanic
			zerolog.Ctx(r.Context()).Error().Str("route", info.Route).Str("module", info.Module).
				Interface("panic", rec).Bytes("stack", debug.Stack()).Msg("handler panicked")
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		}()
		next.ServeHTTP(w, r)
	})
}
