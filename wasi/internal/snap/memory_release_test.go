package snap

import (
	"bytes"
	"testing"
)

// TestMemoryFreeZeroes checks that a pooled memory handed to the next
// instance reads as zero, whichever way Free gave it back, and that the
// resident free memory is counted.
func TestMemoryFreeZeroes(t *testing.T) {
	savedMax, savedBudget := releaseClearMax, releaseWarmBudget
	t.Cleanup(func() { releaseClearMax, releaseWarmBudget = savedMax, savedBudget })
	tests := []struct {
		name     string
		clearMax uint64
		budget   int64
		wantWarm int64 // resident free bytes after Free
	}{
		{"madvise", 0, 1 << 30, 0},
		{"clear", 1 << 20, 1 << 30, 2 * PageSize},
		{"clear over budget falls back to madvise", 1 << 20, PageSize, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			releaseClearMax, releaseWarmBudget = tc.clearMax, tc.budget
			var set Pools
			defer set.Release()
			p := set.Get(1 << 20)
			m := p.Allocate(PageSize, 1<<20)
			buf := m.Reallocate(2 * PageSize)
			for i := range buf {
				buf[i] = 0xa5
			}
			if n, b := set.stats.Instances.Load(), set.stats.Bytes.Load(); n != 1 || b != 2*PageSize {
				t.Errorf("in use: got %d memories, %d bytes; want 1, %d", n, b, 2*PageSize)
			}
			m.Free()
			if got := set.stats.Warm.Load(); got != tc.wantWarm {
				t.Errorf("resident free bytes: got %d; want %d", got, tc.wantWarm)
			}
			m2 := p.Allocate(PageSize, 1<<20)
			if m2 != m {
				t.Fatalf("pool did not reuse the freed region")
			}
			buf = m2.Reallocate(2 * PageSize)
			if !bytes.Equal(buf, make([]byte, len(buf))) {
				t.Errorf("reused memory is not all zero")
			}
			if got := set.stats.Warm.Load(); got != 0 {
				t.Errorf("resident free bytes after reuse: got %d; want 0", got)
			}
			m2.Free()
		})
	}
}
