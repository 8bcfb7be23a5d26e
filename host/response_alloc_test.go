package host

import (
	"bytes"
	"runtime"
	"testing"
)

// TestParseHeaderMemory: a guest's header block of many short lines (the
// whole max_cgi_header of "a:" fields, which the parser accepts) costs the
// host a bounded multiple of the block in allocations, not a map and a
// value slice sized for one entry per line whatever the names: that took
// 3.5 MB of host heap, outside the guest's memory limit, per 64 KiB
// response.
func TestParseHeaderMemory(t *testing.T) {
	for _, line := range []string{"a:\n", "X-A: 1\n", "Set-Cookie: a=b\n"} {
		block := append([]byte("Content-Type: text/plain\n"), bytes.Repeat([]byte(line), (DefaultMaxHeaderBytes-40)/len(line))...)
		block = bytes.TrimSuffix(block, []byte("\n"))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		const runs = 10
		for range runs {
			var res response
			if err := res.parse(block); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		per := int(after.TotalAlloc-before.TotalAlloc) / runs
		// The values of one name are one slice of 16-byte strings,
		// grown by doubling, and a name not in canonical form is
		// copied: about 25 times the block for 3-byte lines.
		if limit := 32 * len(block); per > limit {
			t.Errorf("lines %q: got %d bytes allocated to parse a %d-byte block; want at most %d", line, per, len(block), limit)
		}
	}
}
