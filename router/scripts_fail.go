package router

import (
	"errors"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/wasigate/wasigate/host"
)

// fail answers a script that cannot run. The toolchain or interpreter to
// install is always named; the compiler's output only with
// show_build_errors, since it shows source paths and code.
func (s *scriptsHandler) fail(w http.ResponseWriter, r *http.Request, log zerolog.Logger, err error) {
	info := host.InfoFrom(r.Context())
	if r.Context().Err() != nil {
		info.Reason, info.Status = host.ReasonClient, 499
		log.Info().Err(err).Msg("client went away while the script was building")
		return
	}
	var tl tooLargeError
	if errors.As(err, &tl) && tl.TooLarge() {
		// The server's bound, not the compiler's complaint: its own
		// reason, and the request's one event carries the error.
		info.Reason, info.Err = host.ReasonTooLarge, err
		http.Error(w, "500 Internal Server Error: the script's module is larger than the server's max_module_size", http.StatusInternalServerError)
		return
	}
	info.Reason = host.ReasonBuild
	body := "500 Internal Server Error: the script could not be built"
	var te toolchainError
	var me *MissingInterpreterError
	var le *AppLoadError
	var ee editedInit
	switch {
	case errors.As(err, &le):
		// The traceback is the operator's, in the log; never the page's.
		info.Reason, info.Err = host.ReasonLoad, err
		http.Error(w, "500 Internal Server Error: the application failed to load", http.StatusInternalServerError)
		return
	case errors.As(err, &ee):
		// The edited files by their names in the configuration; the
		// traceback in the log, and on the page with show_errors.
		info.Reason, info.Err = host.ReasonLoad, err
		body := "500 Internal Server Error: the interpreter's init failed after an edit of " + s.editedNames(ee) +
			"; fix it and save: the next request takes it again"
		if s.rt.ShowErrors {
			body += "\n\n" + err.Error()
		}
		http.Error(w, body, http.StatusInternalServerError)
		return
	case errors.As(err, &me):
		info.Reason = host.ReasonToolchain
		body = "500 Internal Server Error: " + err.Error()
	case errors.As(err, &te) && te.Toolchain():
		// Its own text only: the build error around it names the source.
		info.Reason = host.ReasonToolchain
		body = "500 Internal Server Error: " + te.Error()
	case s.rt.ShowBuildErrors:
		body += "\n\n" + err.Error()
	}
	// The request's one event (the access log's) carries the error.
	info.Err = err
	http.Error(w, body, http.StatusInternalServerError)
}

// toolchainError is a build error about the machine rather than the
// script (a compiler or the build sandbox missing): its text says what to
// install, and clients see it. wasi/toolchain's errors have the method.
type toolchainError interface {
	error
	Toolchain() bool
}

// tooLargeError is a module refused for its size ([server]
// max_module_size) before it was read; wasi's TooLargeError has the
// method.
type tooLargeError interface {
	error
	TooLarge() bool
}
