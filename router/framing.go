package router

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/wasigate/wasigate/host"
)

// A request with both Content-Length and Transfer-Encoding (or any
// Transfer-Encoding in HTTP/1.0) has framing two parsers may read two ways:
// the way requests are smuggled past a front end. RFC 9112 sections 6.1
// and 6.3 allow a server to reject it, and require it to close the
// connection after answering. Go's net/http (1.26) instead deletes
// Content-Length, reads the body as chunked and keeps the connection open;
// a handler cannot tell such a request from a plain chunked one. So the
// connection's bytes are watched below net/http: framingConn follows the
// HTTP/1 message framing of what the server reads and notes the first
// request with both; the handler for that request answers 400 and closes.
//
// Only plain listeners are watched: under TLS net/http must see its
// *tls.Conn (for r.TLS and HTTP/2), so such a request is read as Go reads
// it, by Transfer-Encoding alone.

// ErrAmbiguousFraming is the error of a request refused for its framing.
var ErrAmbiguousFraming = errors.New("request has both Content-Length and Transfer-Encoding, or Transfer-Encoding in HTTP/1.0 (RFC 9112 section 6.3)")

// connFraming is what a connection's reader learned, for its handlers.
type connFraming struct {
	bad    atomic.Int64 // 1-based index of the first ambiguous request; 0: none
	served atomic.Int64 // requests handed to the handler so far
}

type framingKey struct{}
type ambiguousKey struct{}

// FramingListener wraps a plain (not TLS) listener so that the server
// built by NewServer refuses requests with ambiguous framing.
// maxHeaderBytes is the server's (http.Server.MaxHeaderBytes): no line of a
// header block net/http accepts is longer.
func FramingListener(ln net.Listener, maxHeaderBytes int) net.Listener {
	return framingListener{ln, maxHeaderBytes}
}

type framingListener struct {
	net.Listener
	maxHeaderBytes int
}

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	// net/http reads at most MaxHeaderBytes + 4 KiB of a header block.
	fc := &framingConn{Conn: c, f: &connFraming{}}
	fc.p.maxLine = max(l.maxHeaderBytes, 0) + 8<<10
	return fc, nil
}

type framingConn struct {
	net.Conn
	f *connFraming
	p framingParser
}

func (c *framingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	// net/http reads a connection from one goroutine at a time.
	if bad := c.p.feed(b[:n]); bad != 0 {
		c.f.bad.CompareAndSwap(0, bad)
	}
	return n, err
}

// CloseWrite lets net/http half-close the connection after an error
// response, so that the client reads it before the close (it looks for
// this method on the connection).
func (c *framingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// framingContext is NewServer's ConnContext: it gives a watched
// connection's requests what its reader learns.
func framingContext(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*framingConn); ok {
		return context.WithValue(ctx, framingKey{}, fc.f)
	}
	return ctx
}

// countFraming wraps the server's handler: it counts a watched
// connection's requests (every one, whatever the site does with it) and
// marks the ambiguous one, which closes the connection.
func countFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, ok := r.Context().Value(framingKey{}).(*connFraming); ok && r.ProtoMajor == 1 {
			n := f.served.Add(1)
			// The reader has seen this request's header block: net/http
			// read it through framingConn before calling us.
			if bad := f.bad.Load(); bad != 0 && n >= bad {
				w.Header().Set("Connection", "close")
				r = r.WithContext(context.WithValue(r.Context(), ambiguousKey{}, true))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refuseAmbiguous answers a request countFraming marked with 400; inside
// the access log, so that it has its one event.
func refuseAmbiguous(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(ambiguousKey{}) != nil {
			info := host.InfoFrom(r.Context())
			info.Reason, info.Err = host.ReasonFraming, ErrAmbiguousFraming
			w.Header().Set("Connection", "close")
			http.Error(w, http.StatusText(http.StatusBadRequest), http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// framingParser follows HTTP/1 requests as net/http frames them (RFC 9112
// section 6.3): a header block, then a chunked body, a Content-Length
// body or none. It stops following (done) where net/http would fail the
// connection anyway, and after the first ambiguous request, which ends it.
type framingParser struct {
	state   int
	line    []byte // the current line, up to maxFramingLine
	long    bool   // the current line went past maxFramingLine
	n       int64  // bytes left of a body or chunk
	request int64  // header blocks seen
	maxLine int    // 0: maxFramingLine

	sawLine, http10, cl, te bool // sawLine: the request line was read
	options                 bool // OPTIONS *: net/http answers it without the handler
	teValue                 []byte
	lastTE                  bool // the last field was Transfer-Encoding (obs-fold)
}

const (
	stHead = iota
	stBody
	stChunkSize
	stChunkData
	stChunkEnd
	stTrailer
	stDone
)

// maxFramingLine bounds a line the parser keeps when its maxLine is unset.
// Past its bound the parser stops following: net/http refuses longer
// header blocks (MaxHeaderBytes) and chunk lines (4 KiB) anyway.
const maxFramingLine = 1 << 20

// feed follows p and returns the index of an ambiguous request whose
// header block ended in p, or 0.
func (p *framingParser) feed(b []byte) int64 {
	for len(b) > 0 && p.state != stDone {
		switch p.state {
		case stBody, stChunkData:
			k := min(int64(len(b)), p.n)
			p.n -= k
			b = b[k:]
			if p.n == 0 {
				if p.state == stBody {
					p.startHead()
				} else {
					p.state = stChunkEnd
				}
			}
			continue
		}
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i]
		}
		limit := p.maxLine
		if limit <= 0 {
			limit = maxFramingLine
		}
		if len(p.line)+len(chunk) > limit {
			p.long = true
		} else {
			p.line = append(p.line, chunk...)
		}
		if i < 0 {
			return 0
		}
		b = b[i+1:]
		line := bytes.TrimSuffix(p.line, []byte{'\r'})
		if p.long {
			p.state = stDone
			return 0
		}
		if bad := p.endLine(line); bad != 0 {
			p.state = stDone
			return bad
		}
		p.line = p.line[:0]
		if cap(p.line) > 16<<10 {
			p.line = nil // a long line's buffer is not kept for the connection
		}
	}
	return 0
}

func (p *framingParser) startHead() {
	p.state = stHead
	p.sawLine, p.http10, p.cl, p.te, p.lastTE, p.options = false, false, false, false, false, false
	p.teValue = p.teValue[:0]
}

// endLine handles a complete line (without its end) of the current state.
func (p *framingParser) endLine(line []byte) int64 {
	switch p.state {
	case stHead:
		return p.headLine(line)
	case stChunkSize:
		size, ok := parseChunkSize(line)
		switch {
		case !ok:
			p.state = stDone
		case size == 0:
			p.state = stTrailer
		default:
			p.state, p.n = stChunkData, size
		}
	case stChunkEnd:
		if len(line) != 0 {
			p.state = stDone
		} else {
			p.state = stChunkSize
		}
	case stTrailer:
		if len(line) == 0 {
			p.startHead()
		}
	}
	return 0
}

func (p *framingParser) headLine(line []byte) int64 {
	if !p.sawLine {
		if len(line) == 0 {
			return 0 // RFC 9112 section 2.2: an empty line before a request
		}
		p.sawLine = true
		if p.request == 0 && p.state == stHead && bytes.HasPrefix(line, []byte("PRI * HTTP/2")) {
			p.state = stDone // HTTP/2 with prior knowledge: no HTTP/1 framing
			return 0
		}
		p.http10 = bytes.HasSuffix(line, []byte(" HTTP/1.0"))
		p.options = bytes.HasPrefix(line, []byte("OPTIONS * "))
		return 0
	}
	if len(line) == 0 {
		// Count what the handler will count: net/http answers OPTIONS *
		// itself. An ambiguous one then marks the request after it, which
		// its body may have smuggled in.
		if !p.options {
			p.request++
		}
		if p.te && (p.cl || p.http10) {
			if p.options {
				return p.request + 1
			}
			return p.request
		}
		return p.bodyFraming()
	}
	if line[0] == ' ' || line[0] == '\t' {
		if p.lastTE { // obs-fold continues the value (RFC 9112 section 5.2)
			p.teValue = append(append(p.teValue, ' '), bytes.TrimSpace(line)...)
		}
		return 0
	}
	name, value, _ := bytes.Cut(line, []byte{':'})
	p.lastTE = false
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		p.cl = true
		p.n = contentLength(value)
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		if p.te {
			p.teValue = append(p.teValue, ',') // net/http refuses two lines
		}
		p.te, p.lastTE = true, true
		p.teValue = append(p.teValue, bytes.TrimSpace(value)...)
	}
	return 0
}

// bodyFraming moves past an unambiguous header block to its body.
func (p *framingParser) bodyFraming() int64 {
	switch {
	case p.te:
		if !bytes.EqualFold(bytes.TrimSpace(p.teValue), []byte("chunked")) {
			p.state = stDone // net/http answers 501 and closes
			return 0
		}
		p.state = stChunkSize
	case p.cl && p.n < 0:
		p.state = stDone // net/http answers 400 and closes
	case p.cl && p.n > 0:
		p.state = stBody
	default:
		p.startHead()
	}
	return 0
}

// contentLength parses a Content-Length value, or returns -1.
func contentLength(v []byte) int64 {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || len(v) > 18 {
		return -1
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// parseChunkSize reads the hex size of a chunk line, before any extension.
func parseChunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
