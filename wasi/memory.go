package wasi

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// wasmPage is the WebAssembly page size.
const wasmPage = 65536

// maxMemory is the largest linear memory of wasm32: 65536 pages.
const maxMemory = 1 << 32

// memoryPool hands out linear memories of one reservation size. Each
// memory is a region of address space reserved once (see reserve): growing
// it never copies, and after a request its pages are given back to the
// kernel and the region is kept for the next instance. Without it, wazero
// appends to a Go []byte on every memory.grow, copying the whole memory,
// and leaves a multi-megabyte slice per request to the garbage collector.
type memoryPool struct {
	limit uint64 // bytes; memory.grow fails beyond it
	stats *memoryStats
	// image: every memory starts as this snapshot image and is restored
	// to it after use (snapshot.go); nil for zeroed memories.
	image *snapImage

	mu   sync.Mutex
	free []*linearMemory
	all  int // regions reserved, for tests and metrics
}

var _ experimental.MemoryAllocator = (*memoryPool)(nil)

// Allocate implements experimental.MemoryAllocator. max is the module's
// declared maximum; the pool's limit caps it.
func (p *memoryPool) Allocate(_, max uint64) experimental.LinearMemory {
	limit := p.limit
	if max < limit {
		limit = max
	}
	p.mu.Lock()
	var m *linearMemory
	if n := len(p.free); n > 0 {
		m = p.free[n-1]
		p.free = p.free[:n-1]
	}
	p.mu.Unlock()
	if m == nil {
		buf, err := reserve(p.limit)
		if err == nil && p.image != nil {
			if err = p.image.apply(buf); err != nil {
				unreserve(buf)
			}
		}
		if err != nil {
			// Fall back to the Go heap: slower, still capped.
			return &heapMemory{limit: limit, image: p.image}
		}
		m = &linearMemory{pool: p, region: buf}
		p.mu.Lock()
		p.all++
		p.mu.Unlock()
	}
	m.limit = limit
	m.used = 0
	m.refused = false
	if m.warm > 0 {
		p.stats.warm.Add(-int64(m.warm))
		m.warm = 0
	}
	p.stats.instances.Add(1)
	return m
}

func (p *memoryPool) put(m *linearMemory) {
	p.mu.Lock()
	p.free = append(p.free, m)
	p.mu.Unlock()
}

// linearMemory is one reserved region. Reallocate only moves the length.
type linearMemory struct {
	pool   *memoryPool
	region []byte // the whole reservation, len == cap == pool.limit
	limit  uint64 // this instance's cap (the smaller of pool and module)
	used   uint64 // highest length handed out, to know what to give back
	warm   uint64 // bytes kept resident (cleared, not released) while free
	// refused: the guest asked for more than limit (memory.grow failed).
	refused bool
}

func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused = true
		return nil
	}
	if size > m.used {
		m.pool.stats.bytes.Add(int64(size - m.used))
		m.used = size
	}
	return m.region[:size:size]
}

// Handing a memory back: madvise(MADV_DONTNEED) returns its pages to the
// kernel, and the next instance takes a page fault on each page it
// touches; clearing it in place keeps the pages and costs a memset. On a
// loaded server madvise was 14% of the CPU of serving the C guest, and
// clearing halved the instantiate+run+close of the C guest (42 -> 26 us)
// and took a Go guest's from 2.5 to 1.6 ms (BenchmarkLeverRelease). But
// cleared pages stay resident while the region waits in the pool, so only
// memories up to releaseClearMax are cleared, and only while the pool's
// resident free memory stays under releaseWarmBudget; the rest is given
// back to the kernel.
var (
	releaseClearMax   uint64 = 4 << 20
	releaseWarmBudget int64  = 256 << 20
)

// Free gives the touched pages back (they read as zero next time) and
// returns the region to its pool.
func (m *linearMemory) Free() {
	stats := m.pool.stats
	stats.instances.Add(-1)
	stats.bytes.Add(-int64(m.used))
	m.warm = 0
	var from uint64
	if img := m.pool.image; img != nil {
		// A snapshot's memory is restored to its image, not zeroed: the
		// pages the guest wrote are dropped (issue 12).
		if err := img.reset(m.region); err != nil {
			unreserve(m.region)
			return
		}
		from = img.size
	}
	tail := m.region[from:max(from, m.used)]
	n := uint64(len(tail))
	if n > 0 && n <= releaseClearMax && stats.warm.Add(int64(n)) <= releaseWarmBudget {
		clear(tail)
		m.warm = n
	} else if n > 0 {
		if n <= releaseClearMax {
			stats.warm.Add(-int64(n)) // over the budget after all
		}
		if err := release(tail); err != nil {
			// Could not zero it: do not reuse it.
			unreserve(m.region)
			return
		}
	}
	m.pool.put(m)
}

// heapMemory is the fallback when address space cannot be reserved.
type heapMemory struct {
	limit   uint64
	buf     []byte
	refused bool
	image   *snapImage // copied in first (snapshot.go)
}

func (m *heapMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused = true
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	nb := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.limit))
	if m.buf == nil && m.image != nil {
		copy(nb, m.image.data)
	}
	copy(nb, m.buf)
	m.buf = nb
	return m.buf
}

func (m *heapMemory) Free() { m.buf = nil }

// checkMemoryMin refuses a module whose memory starts larger than the
// limit: wazero takes the allocator's refusal of the minimum for a bug and
// panics (the bounds check in NewMemoryInstance, internal/wasm/memory.go),
// which took down a request, and a snapshot's init at startup (issue 12).
func (m *Module) checkMemoryMin(limit uint64) error {
	for _, md := range m.compiled.ExportedMemories() {
		if need := uint64(md.Min()) * wasmPage; need > limit {
			return fmt.Errorf("%s: its memory starts at %d bytes, more than the memory limit of %d bytes", m.Name, need, limit)
		}
	}
	return nil
}

// memoryStats counts the pooled memories in use, engine-wide.
type memoryStats struct {
	instances atomic.Int64 // memories handed out and not yet freed
	bytes     atomic.Int64 // their linear memory sizes, added up
	warm      atomic.Int64 // resident bytes of free memories (see Free)
	rescued   atomic.Int64 // memories Run freed because wazero had not (callMemory.release)
	idle      atomic.Int64 // bytes idle reused instances hold as their own (reuse.go)
	reused    atomic.Int64 // requests served by an instance an earlier one used
	discarded atomic.Int64 // reusable instances closed after their request
}

// poolSet keeps one pool per memory limit.
type poolSet struct {
	mu     sync.Mutex
	pools  map[uint64]*memoryPool
	images map[imagePool]*memoryPool // pools of snapshot images
	stats  memoryStats
}

type imagePool struct {
	limit uint64
	image *snapImage
}

// getImage returns the pool of memories that start as img, one per limit
// and image: its free memories hold the image already.
func (s *poolSet) getImage(limit uint64, img *snapImage) *memoryPool {
	base := s.get(limit)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.images == nil {
		s.images = map[imagePool]*memoryPool{}
	}
	k := imagePool{base.limit, img}
	p := s.images[k]
	if p == nil {
		p = &memoryPool{limit: base.limit, stats: &s.stats, image: img}
		s.images[k] = p
	}
	return p
}

// dropImage unreserves the free memories of img's pools and forgets
// them. Module.Close calls it once no program of the module runs, so no
// memory of these pools is in use.
func (s *poolSet) dropImage(img *snapImage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range s.images {
		if k.image == img {
			p.unreserveFree()
			delete(s.images, k)
		}
	}
}

func (p *memoryPool) unreserveFree() {
	p.mu.Lock()
	for _, m := range p.free {
		unreserve(m.region)
	}
	p.free = nil
	p.mu.Unlock()
}

func (s *poolSet) get(limit uint64) *memoryPool {
	if limit == 0 || limit > maxMemory {
		limit = maxMemory
	}
	limit = (limit + wasmPage - 1) / wasmPage * wasmPage
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pools == nil {
		s.pools = map[uint64]*memoryPool{}
	}
	p := s.pools[limit]
	if p == nil {
		p = &memoryPool{limit: limit, stats: &s.stats}
		s.pools[limit] = p
	}
	return p
}

func (s *poolSet) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pools {
		p.unreserveFree()
	}
	for _, p := range s.images {
		p.unreserveFree()
	}
}

// callMemory is the allocator of one call and the handle of the memory it
// hands out: it remembers the memory, so that Run can tell whether the
// guest was refused memory before it failed, and frees it at most once, so
// that Run can give it back itself if wazero did not (issue 9).
type callMemory struct {
	pool  *memoryPool
	mem   experimental.LinearMemory
	freed bool
}

var _ experimental.LinearMemory = (*callMemory)(nil)

func (c *callMemory) Allocate(cap, max uint64) experimental.LinearMemory {
	c.mem = c.pool.Allocate(cap, max)
	return c
}

// Reallocate implements experimental.LinearMemory.
func (c *callMemory) Reallocate(size uint64) []byte { return c.mem.Reallocate(size) }

// Free implements experimental.LinearMemory. wazero calls it from the
// goroutine that closes the instance; release runs after that, on the
// same goroutine as Run.
func (c *callMemory) Free() {
	if c.mem == nil || c.freed {
		return
	}
	c.freed = true
	c.mem.Free()
}

// release frees the memory if the instance's close did not, and counts it:
// a memory still allocated when Run returns would stay out of its pool.
func (c *callMemory) release() {
	if c.mem != nil && !c.freed {
		c.pool.stats.rescued.Add(1)
		c.Free()
	}
}

// refused reports whether the guest's memory.grow failed at the limit.
func (c *callMemory) refused() bool {
	switch m := c.mem.(type) {
	case *linearMemory:
		return m.refused
	case *heapMemory:
		return m.refused
	}
	return false
}

// MemoryError is a guest failure (a trap or a non-zero exit) that came
// after the guest was refused memory at its limit: most likely the cause.
type MemoryError struct {
	Limit uint64 // bytes
	Err   error  // how the guest ended
}

func (e *MemoryError) Error() string {
	return fmt.Sprintf("guest failed after reaching its memory limit (%d bytes): %v", e.Limit, e.Err)
}

func (e *MemoryError) Unwrap() error { return e.Err }

// MemoryLimitReached marks the error for callers that cannot import this
// package (host classifies errors by behaviour).
func (e *MemoryError) MemoryLimitReached() bool { return true }
