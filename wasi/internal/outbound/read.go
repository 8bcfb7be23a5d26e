package outbound

// The reading side of wasi_experimental_http: what a guest hands
// over (method, header lines) checked, and what it reads back (a response's
// headers and body) copied into its memory. hostmodule.go has the module, the
// per-run state and req.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/tetratelabs/wazero/api"
)

// validMethod: a token (RFC 9110 section 9.1, 5.6.2).
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if !isTokenChar(m[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune("\"(),/:;<=>?@[\\]{}", rune(c))
}

// parseGuestHeaders reads "name:value" lines. Names are tokens, values
// carry no control characters but tab (RFC 9110 section 5.5); the space
// around a value is not part of it.
func parseGuestHeaders(s string) (http.Header, error) {
	h := http.Header{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validMethod(name) {
			return nil, fmt.Errorf("header line %q: want name:value", line)
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
				return nil, fmt.Errorf("header %s: control character in value", name)
			}
		}
		h.Add(name, value)
	}
	return h, nil
}

// hostOf is the scheme and host of a URL for logs, never its path or
// query (which may hold secrets).
func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	if len(raw) > 64 {
		raw = raw[:64]
	}
	return strconv.Quote(raw)
}

func (run *outboundRun) handle(h uint32) *outboundResp {
	run.mu.Lock()
	defer run.mu.Unlock()
	return run.handles[h]
}

// outboundClose: close(handle) -> http_error.
func outboundClose(ctx context.Context, mod api.Module, stack []uint64) {
	run := outboundState(ctx)
	if run == nil {
		stack[0] = httpRuntimeError
		return
	}
	h := uint32(stack[0])
	run.mu.Lock()
	r, ok := run.handles[h]
	if ok {
		delete(run.handles, h)
		run.end(r, "", nil)
	}
	run.mu.Unlock()
	if !ok {
		stack[0] = httpInvalidHandle
		return
	}
	stack[0] = httpSuccess
}

// outboundHeaderGet: header_get(handle, name, name_len, buf, buf_len,
// written_ptr) -> http_error. The first value of the header, whatever the
// case of its name.
func outboundHeaderGet(ctx context.Context, mod api.Module, stack []uint64) {
	stack[0] = uint64(headerGet(ctx, mod, uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3]), uint32(stack[4]), uint32(stack[5])))
}

func headerGet(ctx context.Context, mod api.Module, h, namePtr, nameLen, buf, bufLen, written uint32) uint32 {
	run := outboundState(ctx)
	if run == nil {
		return httpRuntimeError
	}
	r := run.handle(h)
	if r == nil {
		return httpInvalidHandle
	}
	name, code := guestString(mod, namePtr, nameLen)
	if code != httpSuccess {
		return code
	}
	vals := r.resp.Header.Values(name)
	if len(vals) == 0 {
		return httpHeaderNotFound
	}
	return writeOut(mod, []byte(vals[0]), buf, bufLen, written)
}

// writeOut copies b to the guest's buffer and its length to written, or
// fails with buffer_too_small and writes nothing.
func writeOut(mod api.Module, b []byte, buf, bufLen, written uint32) uint32 {
	if uint64(len(b)) > uint64(bufLen) {
		return httpBufferTooSmall
	}
	mem := mod.Memory()
	if mem == nil {
		return httpMemoryNotFound
	}
	if !mem.Write(buf, b) {
		return httpMemoryAccessError
	}
	return writeResult(mod, written, uint32(len(b)))
}

// outboundHeadersGetAll: headers_get_all(handle, buf, buf_len,
// written_ptr) -> http_error. Every header as a "name:value\n" line,
// names in lower case.
func outboundHeadersGetAll(ctx context.Context, mod api.Module, stack []uint64) {
	run := outboundState(ctx)
	if run == nil {
		stack[0] = httpRuntimeError
		return
	}
	r := run.handle(uint32(stack[0]))
	if r == nil {
		stack[0] = httpInvalidHandle
		return
	}
	var b strings.Builder
	for _, k := range sortedHeaderKeys(r.resp.Header) {
		for _, v := range r.resp.Header[k] {
			b.WriteString(strings.ToLower(k))
			b.WriteByte(':')
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	stack[0] = uint64(writeOut(mod, []byte(b.String()), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])))
}

// outboundBodyRead: body_read(handle, buf, buf_len, written_ptr) ->
// http_error. 0 bytes written is the end of the body. Past the body cap
// the guest gets runtime_error rather than a silently cut body.
func outboundBodyRead(ctx context.Context, mod api.Module, stack []uint64) {
	code := bodyRead(ctx, mod, uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3]))
	stopIfDone(ctx)
	stack[0] = uint64(code)
}

func bodyRead(ctx context.Context, mod api.Module, h, buf, bufLen, written uint32) uint32 {
	run := outboundState(ctx)
	if run == nil {
		return httpRuntimeError
	}
	r := run.handle(h)
	if r == nil {
		return httpInvalidHandle
	}
	if r.ended {
		if r.failed != httpSuccess {
			return r.failed
		}
		return writeResult(mod, written, 0)
	}
	mem := mod.Memory()
	if mem == nil {
		return httpMemoryNotFound
	}
	out, ok := mem.Read(buf, bufLen)
	if !ok {
		return httpMemoryAccessError
	}
	// Read one byte past the cap at most, to tell a body of exactly the
	// cap from a longer one.
	left := run.policy.maxBody - r.ev.Bytes
	if int64(len(out)) > left+1 {
		out = out[:left+1]
	}
	n, err := io.ReadFull(r.resp.Body, out)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	if int64(n) > left {
		run.mu.Lock()
		r.ev.Bytes += left
		run.end(r, "max_body", fmt.Errorf("response body over %d bytes", run.policy.maxBody))
		r.failed = httpRuntimeError
		run.mu.Unlock()
		return httpRuntimeError
	}
	r.ev.Bytes += int64(n)
	if err != nil && err != io.EOF {
		reason := "upstream"
		switch {
		case run.ctx.Err() != nil:
			reason = "stopped"
		case errors.Is(err, context.DeadlineExceeded):
			reason = "timeout"
		}
		run.mu.Lock()
		run.end(r, reason, err)
		r.failed = httpRequestError
		run.mu.Unlock()
		return httpRequestError
	}
	if err == io.EOF && n == 0 {
		run.mu.Lock()
		run.end(r, "", nil)
		run.mu.Unlock()
	}
	return writeResult(mod, written, uint32(n))
}

func sortedHeaderKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
