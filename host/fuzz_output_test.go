package host

import (
	"bytes"
	"math/rand"
	"testing"
)

// FuzzOutput feeds arbitrary guest stdout to the header parser and the
// streaming header detection of output.Write, cut at random points. It
// checks that nothing panics, that a valid block never lets CR, LF or NUL
// into a header, and that the outcome (parsed header, body sent, error
// class) is the same however the output was split. Seeds are in
// testdata/fuzz/FuzzOutput.
func FuzzOutput(f *testing.F) {
	f.Add([]byte("Content-Type: text/plain\n\nhello\n"), int64(1), uint16(64))
	f.Add([]byte("Status: 418 I'm a teapot\r\nContent-Type: text/plain\r\n\r\nteapot\r\n"), int64(2), uint16(64))
	f.Add([]byte("Location: /x\n\n"), int64(3), uint16(16))
	f.Add([]byte("\r\n\nbody"), int64(4), uint16(8))
	f.Fuzz(func(t *testing.T, out []byte, seed int64, maxHeader uint16) {
		if maxHeader == 0 {
			maxHeader = 1
		}
		whole := feed([][]byte{out}, int(maxHeader))
		if whole.res != nil {
			for k, vv := range whole.res.header {
				if !validName([]byte(k)) {
					t.Fatalf("header name %q accepted", k)
				}
				for _, v := range vv {
					if bytes.ContainsAny([]byte(v), "\r\n\x00") {
						t.Fatalf("header %s value %q has CR, LF or NUL", k, v)
					}
				}
			}
			if whole.res.status != 0 && (whole.res.status < 200 || whole.res.status > 599) {
				t.Fatalf("status %d accepted", whole.res.status)
			}
		}
		// Also through parseHeader alone, on any prefix: never a panic.
		if end, _ := findHeaderEnd(out, 0); end >= 0 {
			_, _ = parseHeader(out[:end])
		}

		rng := rand.New(rand.NewSource(seed))
		for range 4 {
			var chunks [][]byte
			rest := out
			for len(rest) > 0 {
				n := 1 + rng.Intn(len(rest))
				if rng.Intn(4) == 0 {
					n = min(len(rest), 1+rng.Intn(3)) // small pieces around terminators
				}
				chunks = append(chunks, rest[:n])
				rest = rest[n:]
			}
			got := feed(chunks, int(maxHeader))
			if errClass(got.err) != errClass(whole.err) {
				t.Fatalf("split %q: error %v; whole: %v", chunks, got.err, whole.err)
			}
			if got.err != nil {
				continue
			}
			if (got.res == nil) != (whole.res == nil) {
				t.Fatalf("split %q: header parsed %v; whole: %v", chunks, got.res != nil, whole.res != nil)
			}
			if got.res == nil {
				continue
			}
			if got.res.status != whole.res.status || got.res.location != whole.res.location || !equalHeader(got.res.header, whole.res.header) {
				t.Fatalf("split %q: %+v; whole: %+v", chunks, got.res, whole.res)
			}
			if got.body != whole.body {
				t.Fatalf("split %q: body %q; whole: %q", chunks, got.body, whole.body)
			}
		}
	})
}
