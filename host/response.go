package host

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// Errors that make a script's output invalid (RFC 3875 section 6). Each is
// answered with 502 Bad Gateway while no body has been sent.
var (
	ErrNoHeader        = errors.New("script ended before a complete header block")
	ErrHeaderTooLarge  = errors.New("script header block too large")
	ErrNoContentType   = errors.New("script response has none of Content-Type, Location and Status")
	ErrBadStatus       = errors.New("script sent a malformed Status header")
	ErrBadHeaderName   = errors.New("script sent an invalid header name")
	ErrBadHeaderValue  = errors.New("script sent a header value with CR, LF or NUL")
	ErrBadHeaderLine   = errors.New("script sent a header line without a colon")
	ErrOutputTooLarge  = errors.New("script output over the limit")
	ErrResponseAborted = errors.New("response aborted")
	// ErrBadContentLength is a Content-Length that is not one decimal
	// number (RFC 9110 section 8.6).
	ErrBadContentLength = errors.New("script sent a malformed Content-Length")
	// ErrContentLength is a body longer or shorter than the script's own
	// Content-Length.
	ErrContentLength = errors.New("script body does not match its Content-Length")
)

// response is parsed CGI output: the header block and what it means.
type response struct {
	status   int
	header   http.Header
	location string // a local path for an internal redirect, RFC 3875 6.2.2
	// contentLength is the script's Content-Length, or -1: the body it
	// writes must have exactly this length.
	contentLength int64
	dropped       []string // hop-by-hop fields not forwarded
}

// parseHeader parses a complete CGI header block (without the blank line
// that ends it). Lines may end in LF or CRLF.
func parseHeader(block []byte) (*response, error) {
	res := &response{}
	if err := res.parse(block); err != nil {
		return nil, err
	}
	return res, nil
}

// maxHeaderHint bounds the fields parse makes room for at once.
const maxHeaderHint = 32

// parse is parseHeader into res, which a caller can hold in a struct of
// its own. Every request pays for it, so it allocates little: one string
// for the whole block, which names and values are cut from (a name
// already in canonical form, as scripts write them, is not copied again),
// one slice for the fields' values, and the map.
func (res *response) parse(block []byte) error {
	// Sized for the fields of a usual script, not one per line: a guest's
	// block of 20,000 "a:" lines would have the host allocate a map and a
	// slice for as many names (3.5 MB per 64 KiB response); past the
	// hint they grow as they fill.
	lines := min(bytes.Count(block, []byte{'\n'})+1, maxHeaderHint)
	*res = response{header: make(http.Header, lines), contentLength: -1}
	text := string(block)
	// Each field's first value is a one-element window of vals, capped so
	// that a second value for the same name appends to a copy.
	vals := make([]string, 0, lines)
	hasStatus := false
	for len(text) > 0 {
		var line string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			line, text = text, ""
		}
		line = strings.TrimSuffix(line, "\r")
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("%w: %q", ErrBadHeaderLine, truncate([]byte(line)))
		}
		if !validName(name) {
			return fmt.Errorf("%w: %q", ErrBadHeaderName, truncate([]byte(name)))
		}
		value = strings.Trim(value, " \t")
		if strings.ContainsAny(value, "\r\n\x00") {
			// Never response splitting.
			return fmt.Errorf("%w: %s", ErrBadHeaderValue, name)
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		v := value
		switch key {
		case "Status":
			code, err := parseStatus(v)
			if err != nil {
				return err
			}
			res.status = code
			hasStatus = true
		case "Content-Length":
			n, err := parseContentLength(v)
			if err != nil || (res.contentLength >= 0 && n != res.contentLength) {
				// Two different lengths: no way to tell which is meant.
				return fmt.Errorf("%w: %q", ErrBadContentLength, truncate([]byte(value)))
			}
			res.contentLength = n
			vals = append(vals, v)
			res.header["Content-Length"] = vals[len(vals)-1 : len(vals) : len(vals)]
		default:
			if old, ok := res.header[key]; ok {
				res.header[key] = append(old, v)
				continue
			}
			vals = append(vals, v)
			res.header[key] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
	}
	loc := res.header.Get("Location")
	if !hasStatus && res.header.Get("Content-Type") == "" && loc == "" {
		return ErrNoContentType
	}
	switch {
	case strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") && !hasStatus:
		// 6.2.2 local redirect: the server serves that path instead.
		res.location = loc
	case loc != "" && !hasStatus:
		res.status = http.StatusFound // 6.2.3 client redirect
	case !hasStatus:
		res.status = http.StatusOK
	}
	// Last, so that what the CGI fields mean does not depend on it.
	res.dropped = dropHopByHop(res.header)
	if _, ok := res.header["Content-Length"]; !ok {
		res.contentLength = -1 // named by Connection, so dropped
	}
	return nil
}

// parseContentLength reads 1*DIGIT (RFC 9110 section 8.6), at most 18
// digits so that it cannot overflow.
func parseContentLength(v string) (int64, error) {
	if len(v) == 0 || len(v) > 18 {
		return 0, ErrBadContentLength
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, ErrBadContentLength
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// parseStatus reads "418 I'm a teapot" or "418".
func parseStatus(v string) (int, error) {
	codeStr, _, _ := strings.Cut(v, " ")
	if len(codeStr) != 3 {
		return 0, fmt.Errorf("%w: %q", ErrBadStatus, v)
	}
	code, err := strconv.Atoi(codeStr)
	if err != nil || code < 200 || code > 599 {
		return 0, fmt.Errorf("%w: %q", ErrBadStatus, v)
	}
	return code, nil
}

// validName reports whether b is an HTTP token (RFC 9110 section 5.6.2).
// Strings are checked as they are, without a copy into bytes.
func validName[T ~string | ~[]byte](b T) bool {
	if len(b) == 0 {
		return false
	}
	for i := range len(b) {
		if c := b[i]; c >= 0x80 || !tokenChar[c] {
			return false
		}
	}
	return true
}

var tokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return
}()

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// findHeaderEnd returns the length of the header block in buf and the
// offset where the body starts, or -1 if the blank line has not come yet.
// from is where to resume scanning.
func findHeaderEnd(buf []byte, from int) (blockEnd, bodyStart int) {
	for i := from; i < len(buf); i++ {
		if buf[i] != '\n' {
			continue
		}
		// Line ends at i. Is it the first line, and empty?
		if i == 0 {
			return 0, 1
		}
		if i == 1 && buf[0] == '\r' {
			return 0, 2
		}
		// Is the next line empty?
		if i+1 < len(buf) && buf[i+1] == '\n' {
			return i, i + 2
		}
		if i+2 < len(buf) && buf[i+1] == '\r' && buf[i+2] == '\n' {
			return i, i + 3
		}
	}
	return -1, -1
}
