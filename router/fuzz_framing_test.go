package router

import (
	"math/rand"
	"testing"
)

// FuzzFraming feeds arbitrary connection bytes to the framing parser, cut
// at random points as reads would cut them. It checks that nothing
// panics, that the verdict (the first ambiguous request) does not depend
// on the cuts, and that the parser keeps no more than one bounded line.
// Seeds are in testdata/fuzz/FuzzFraming.
func FuzzFraming(f *testing.F) {
	f.Add([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), int64(1))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), int64(2))
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 1\r\n\r\n"), int64(3))
	f.Fuzz(func(t *testing.T, in []byte, seed int64) {
		var whole framingParser
		want := whole.feed(in)
		rng := rand.New(rand.NewSource(seed))
		for range 4 {
			var p framingParser
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
