// Package wasihttp is outbound HTTP for Go guests of wasigate (and of
// WAGI): an http.RoundTripper over the wasi_experimental_http host
// functions, so that a guest built with GOOS=wasip1 uses http.Client as
// anywhere else:
//
//	client := &http.Client{Transport: wasihttp.Transport{}}
//	res, err := client.Get("https://api.example.com/v1/items")
//
// The host decides what the guest may reach (allowed_hosts, see
// wasi/OUTBOUND.md); a refusal comes back as an *url.Error wrapping an
// Error such as ErrDestinationNotAllowed.
//
// The request body is read whole before the request is sent: the host
// function takes it in one piece. The response body streams.
package wasihttp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Error is an http_error code of the host functions.
type Error uint32

// The codes, in the order of wasi-experimental-http's witx enum.
const (
	ErrInvalidHandle         Error = 1
	ErrMemoryNotFound        Error = 2
	ErrMemoryAccess          Error = 3
	ErrBufferTooSmall        Error = 4
	ErrHeaderNotFound        Error = 5
	ErrUTF8                  Error = 6
	ErrDestinationNotAllowed Error = 7
	ErrInvalidMethod         Error = 8
	ErrInvalidEncoding       Error = 9
	ErrInvalidURL            Error = 10
	ErrRequest               Error = 11
	ErrRuntime               Error = 12   // wasigate: the response body is over the host's cap
	ErrTooManySessions       Error = 13   // wasigate: over the requests per run or the tenant's concurrency
	errNotWASI               Error = 1000 // outside GOOS=wasip1
)

// The header block is read into a buffer that doubles up to 1 MiB.
const (
	firstHeaderBuf = 4 << 10
	maxHeaderBlock = 1 << 20
)

var names = map[Error]string{
	ErrInvalidHandle: "invalid handle", ErrMemoryNotFound: "memory not found", ErrMemoryAccess: "memory access error",
	ErrBufferTooSmall: "buffer too small", ErrHeaderNotFound: "header not found", ErrUTF8: "invalid utf-8",
	ErrDestinationNotAllowed: "destination not allowed", ErrInvalidMethod: "invalid method",
	ErrInvalidEncoding: "invalid header encoding", ErrInvalidURL: "invalid url", ErrRequest: "request failed",
	ErrRuntime: "runtime error", ErrTooManySessions: "too many requests", errNotWASI: "wasi_experimental_http needs GOOS=wasip1",
}

func (e Error) Error() string {
	if n, ok := names[e]; ok {
		return "wasi_experimental_http: " + n
	}
	return fmt.Sprintf("wasi_experimental_http: error %d", uint32(e))
}

// Transport sends requests through the host. Its zero value is ready.
type Transport struct{}

var _ http.RoundTripper = Transport{}

// DefaultClient is an http.Client over Transport.
var DefaultClient = &http.Client{Transport: Transport{}}

// RoundTrip implements http.RoundTripper.
func (Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	var hdr strings.Builder
	for k, vs := range req.Header {
		for _, v := range vs {
			hdr.WriteString(k + ":" + v + "\n")
		}
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	status, handle, code := rawReq(req.URL.String(), method, hdr.String(), body)
	if code != 0 {
		return nil, Error(code)
	}
	header, err := headers(handle)
	if err != nil {
		rawClose(handle)
		return nil, err
	}
	res := &http.Response{
		Status:        strconv.Itoa(int(status)) + " " + http.StatusText(int(status)),
		StatusCode:    int(status),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          &respBody{handle: handle},
		ContentLength: -1,
		Request:       req,
	}
	if n, err := strconv.ParseInt(header.Get("Content-Length"), 10, 64); err == nil {
		res.ContentLength = n
	}
	return res, nil
}

// headers reads the response's header block, growing the buffer while the
// host says it is too small.
func headers(handle uint32) (http.Header, error) {
	for size := firstHeaderBuf; ; size *= 2 {
		buf := make([]byte, size)
		n, code := rawHeadersGetAll(handle, buf)
		if Error(code) == ErrBufferTooSmall && size < maxHeaderBlock {
			continue
		}
		if code != 0 {
			return nil, Error(code)
		}
		h := http.Header{}
		sc := bufio.NewScanner(strings.NewReader(string(buf[:n])))
		sc.Buffer(nil, maxHeaderBlock)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
				h.Add(k, v)
			}
		}
		return h, nil
	}
}

// respBody reads the response body through body_read; Close frees the handle.
type respBody struct {
	handle uint32
	eof    bool
	closed bool
}

func (b *respBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("wasihttp: read on a closed body")
	}
	if b.eof || len(p) == 0 {
		if b.eof {
			return 0, io.EOF
		}
		return 0, nil
	}
	n, code := rawBodyRead(b.handle, p)
	if code != 0 {
		return 0, Error(code)
	}
	if n == 0 {
		b.eof = true
		return 0, io.EOF
	}
	return n, nil
}

func (b *respBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if code := rawClose(b.handle); code != 0 {
		return Error(code)
	}
	return nil
}
