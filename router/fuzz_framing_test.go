package router

import (
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// FuzzFraming feeds arbitrary connection bytes to the framing parser, cut
// at random points as reads would cut them. It checks that nothing
// panics, that the verdict (the first ambiguous request) is the one
// referenceVerdict reaches reading the whole input at once, that it does
// not depend on the cuts, and that the parser keeps no more than one
// bounded line. The seed also picks the longest line followed, so that
// the rule for long lines is exercised by short inputs. Seeds are in
// testdata/fuzz/FuzzFraming.
func FuzzFraming(f *testing.F) {
	f.Add([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), int64(1))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), int64(2))
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 1\r\n\r\n"), int64(3))
	f.Add([]byte("OPTIONS * HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\n\r\n"), int64(4))
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nGET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"), int64(5))
	f.Add([]byte("GET / HTTP/1.1\r\nX-Long: "+strings.Repeat("a", 300)+"\r\n\r\nPOST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), int64(7))
	// Seed 6 follows lines of 40 bytes: "X: " and 36 bytes and CR is the
	// longest, one more stops the parser.
	f.Add([]byte("GET / HTTP/1.1\r\nX: "+strings.Repeat("a", 36)+"\r\n\r\nPOST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), int64(6))
	f.Add([]byte("GET / HTTP/1.1\r\nX: "+strings.Repeat("a", 37)+"\r\n\r\nPOST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), int64(6))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"), int64(8))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcdeX\r\nGET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"), int64(9))
	f.Fuzz(func(t *testing.T, in []byte, seed int64) {
		maxLine := []int{0, 8, 40, 200}[uint64(seed)%4]
		whole := framingParser{maxLine: maxLine}
		want := whole.feed(in)
		if ref := referenceVerdict(string(in), maxLine); want != ref {
			t.Fatalf("parser: ambiguous request %d; reference: %d (maxLine %d)", want, ref, maxLine)
		}
		rng := rand.New(rand.NewSource(seed))
		for range 4 {
			p := framingParser{maxLine: maxLine}
			var got int64
			rest := in
			for len(rest) > 0 {
				n := 1 + rng.Intn(len(rest))
				if rng.Intn(3) == 0 {
					n = min(len(rest), 1+rng.Intn(3))
				}
				if bad := p.feed(rest[:n]); bad != 0 && got == 0 {
					got = bad
				}
				rest = rest[n:]
				if cap(p.line) > 2*maxFramingLine {
					t.Fatalf("line buffer of %d bytes", cap(p.line))
				}
			}
			if got != want {
				t.Fatalf("split: ambiguous request %d; whole: %d", got, want)
			}
		}
	})
}

// referenceVerdict restates the rules framingParser follows, reading the
// whole connection at once rather than in pieces: the 1-based index of
// the first request with both Content-Length and Transfer-Encoding, or
// Transfer-Encoding in HTTP/1.0 (RFC 9112 section 6.3), or 0. Requests
// are counted as the handler sees them (net/http answers OPTIONS * itself,
// so an ambiguous one marks the request after it). It stops, with 0,
// where net/http stops reading the connection as HTTP/1: the HTTP/2
// preface, a Transfer-Encoding other than chunked, a bad Content-Length,
// a bad chunk, a line longer than maxLine (0: maxFramingLine), or the
// end of the input.
func referenceVerdict(in string, maxLine int) int64 {
	if maxLine <= 0 {
		maxLine = maxFramingLine
	}
	pos := 0
	// line returns the next whole line without its CR LF (or LF); false
	// when there is none or it is too long.
	line := func() (string, bool) {
		n := strings.IndexByte(in[pos:], '\n')
		if n < 0 || n > maxLine {
			return "", false
		}
		l := in[pos : pos+n]
		pos += n + 1
		return strings.TrimSuffix(l, "\r"), true
	}
	// skip takes n bytes of body; false when the input ends first.
	skip := func(n int64) bool {
		if int64(len(in)-pos) < n {
			return false
		}
		pos += int(n)
		return true
	}
	// chunked reads chunks up to the last one and the trailer.
	chunked := func() bool {
		for {
			l, ok := line()
			if !ok {
				return false
			}
			size, ok := chunkSize(l)
			switch {
			case !ok:
				return false
			case size == 0:
				for {
					l, ok := line()
					if !ok {
						return false
					}
					if l == "" {
						return true
					}
				}
			}
			if !skip(size) {
				return false
			}
			if l, ok := line(); !ok || l != "" {
				return false
			}
		}
	}
	var counted int64
	for {
		start, ok := line()
		for ok && start == "" { // RFC 9112 section 2.2
			start, ok = line()
		}
		if !ok || (counted == 0 && strings.HasPrefix(start, "PRI * HTTP/2")) {
			return 0
		}
		options := strings.HasPrefix(start, "OPTIONS * ")
		http10 := strings.HasSuffix(start, " HTTP/1.0")
		var fields []string
		for {
			l, ok := line()
			if !ok {
				return 0
			}
			if l == "" {
				break
			}
			fields = append(fields, l)
		}
		hasCL, length := false, int64(0)
		var te []string // Transfer-Encoding values, folds joined to theirs
		inTE := false
		for _, f := range fields {
			if f[0] == ' ' || f[0] == '\t' { // obs-fold: RFC 9112 section 5.2
				if inTE {
					te[len(te)-1] += " " + strings.TrimSpace(f)
				}
				continue
			}
			name, value, _ := strings.Cut(f, ":")
			inTE = strings.EqualFold(name, "Transfer-Encoding")
			switch {
			case inTE:
				te = append(te, strings.TrimSpace(value))
			case strings.EqualFold(name, "Content-Length"):
				hasCL, length = true, decimal(value) // the last one counts
			}
		}
		if !options {
			counted++
		}
		if te != nil && (hasCL || http10) {
			if options {
				return counted + 1
			}
			return counted
		}
		switch {
		case te != nil:
			if !strings.EqualFold(strings.TrimSpace(strings.Join(te, ",")), "chunked") || !chunked() {
				return 0
			}
		case hasCL:
			if length < 0 || !skip(length) {
				return 0
			}
		}
	}
}

// decimal is a Content-Length value: 1 to 18 digits, else -1.
func decimal(v string) int64 {
	v = strings.TrimSpace(v)
	if len(v) == 0 || len(v) > 18 || strings.Trim(v, "0123456789") != "" {
		return -1
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// chunkSize is a chunk line's size: 1 to 15 hex digits before any
// extension and trailing blanks.
func chunkSize(l string) (int64, bool) {
	l, _, _ = strings.Cut(l, ";")
	l = strings.TrimRight(l, " \t")
	if len(l) == 0 || len(l) > 15 || strings.Trim(l, "0123456789abcdefABCDEF") != "" {
		return 0, false
	}
	n, _ := strconv.ParseInt(l, 16, 64)
	return n, true
}
