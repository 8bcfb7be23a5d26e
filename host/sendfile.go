package host

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
)

// SendfileFile is what a Sendfile resolver opens: *os.File is one.
type SendfileFile interface {
	io.ReadSeeker
	io.Closer
	Stat() (fs.FileInfo, error)
}

// ErrSendfile is the error of an X-Sendfile answer the server refused: a
// path outside the route's volumes, missing, or not a regular file.
var ErrSendfile = errors.New("X-Sendfile refused")

// sendfileHeader is lighttpd's cgi.x-sendfile header: the guest names a
// file in its own file system and the server sends it, so that scripts
// written for lighttpd or Apache's mod_xsendfile run unchanged.
const sendfileHeader = "X-Sendfile"

// sendfile serves the file the guest named instead of its body, with
// net/http's Range and conditional request handling. The guest's other
// headers are kept (its Content-Type wins over the file's extension);
// its Content-Length, which was about its own body, is not. A file the
// resolver refuses is a 502 and one log event.
func (h *Handler) sendfile(w http.ResponseWriter, r *http.Request, o *output, log *requestLog) {
	name := o.sendfile
	f, err := h.Sendfile(name)
	if err != nil {
		report(r.Context(), log, ReasonSendfile, fmt.Errorf("%w: %q: %w", ErrSendfile, name, err))
		http.Error(w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err != nil {
		report(r.Context(), log, ReasonSendfile, fmt.Errorf("%w: %q: %w", ErrSendfile, name, err))
		http.Error(w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
		return
	}
	hdr := w.Header()
	for k, vv := range o.res.header {
		if k == "Content-Length" || (k == "X-Request-Id" && len(hdr[k]) > 0) {
			continue
		}
		hdr[k] = vv
	}
	InfoFrom(r.Context()).Status = http.StatusOK
	http.ServeContent(w, r, path.Base(name), st.ModTime(), f)
}
