package snap

import (
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// PageSize is the WebAssembly page size.
const PageSize = 65536

// maxMemory is the largest linear memory of wasm32: 65536 pages.
const maxMemory = 1 << 32

// Pool hands out linear memories of one reservation size. Each
// memory is a region of address space reserved once (see reserve): growing
// it never copies, and after a request its pages are given back to the
// kernel and the region is kept for the next instance. Without it, wazero
// appends to a Go []byte on every memory.grow, copying the whole memory,
// and leaves a multi-megabyte slice per request to the garbage collector.
type Pool struct {
	limit uint64 // bytes; memory.grow fails beyond it
	stats *Stats
	// image: every memory starts as this snapshot image and is restored
	// to it after use; nil for zeroed memories.
	image *Image

	mu   sync.Mutex
	free []*linearMemory
	all  int // regions reserved, for tests and metrics
}

var _ experimental.MemoryAllocator = (*Pool)(nil)

// Limit is the size of the pool's memories: memory.grow fails beyond it.
func (p *Pool) Limit() uint64 { return p.limit }

// Stats are the counters the pool shares with its Pools.
func (p *Pool) Stats() *Stats { return p.stats }

// Allocate implements experimental.MemoryAllocator. max is the module's
// declared maximum; the pool's limit caps it.
func (p *Pool) Allocate(_, max uint64) experimental.LinearMemory {
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
		p.stats.Warm.Add(-int64(m.warm))
		m.warm = 0
	}
	p.stats.Instances.Add(1)
	return m
}

func (p *Pool) put(m *linearMemory) {
	p.mu.Lock()
	p.free = append(p.free, m)
	p.mu.Unlock()
}

// linearMemory is one reserved region. Reallocate only moves the length.
type linearMemory struct {
	pool   *Pool
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
		m.pool.stats.Bytes.Add(int64(size - m.used))
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

// SetReleaseClearMax sets releaseClearMax and returns the old value, for
// benchmarks that compare clearing with giving pages back.
func SetReleaseClearMax(n uint64) (old uint64) {
	old, releaseClearMax = releaseClearMax, n
	return old
}

// Free gives the touched pages back (they read as zero next time) and
// returns the region to its pool.
func (m *linearMemory) Free() {
	stats := m.pool.stats
	stats.Instances.Add(-1)
	stats.Bytes.Add(-int64(m.used))
	m.warm = 0
	var from uint64
	if img := m.pool.image; img != nil {
		// A snapshot's memory is restored to its image, not zeroed: the
		// pages the guest wrote are dropped.
		if err := img.reset(m.region); err != nil {
			unreserve(m.region)
			return
		}
		from = img.size
	}
	tail := m.region[from:max(from, m.used)]
	n := uint64(len(tail))
	if n > 0 && n <= releaseClearMax && stats.Warm.Add(int64(n)) <= releaseWarmBudget {
		clear(tail)
		m.warm = n
	} else if n > 0 {
		if n <= releaseClearMax {
			stats.Warm.Add(-int64(n)) // over the budget after all
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
	image   *Image // copied in first
}

func (m *heapMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused = true
		return nil
	}
	if m.buf == nil && m.image != nil {
		// The whole image, even when the module's minimum is smaller: an
		// instance of a shared snapshot module starts with no pages and
		// grows to the image's size (wasi/sharedcode.go).
		m.buf = append(make([]byte, 0, max(size, uint64(len(m.image.data)))), m.image.data...)
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	nb := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.limit))
	copy(nb, m.buf)
	m.buf = nb
	return m.buf
}

func (m *heapMemory) Free() { m.buf = nil }

// Stats counts the pooled memories in use, engine-wide.
type Stats struct {
	Instances atomic.Int64 // memories handed out and not yet freed
	Bytes     atomic.Int64 // their linear memory sizes, added up
	Warm      atomic.Int64 // resident bytes of free memories (see Free)
	Rescued   atomic.Int64 // memories Run freed because wazero had not (Call.Release)
	Idle      atomic.Int64 // bytes idle reused instances hold as their own
	Reused    atomic.Int64 // requests served by an instance an earlier one used
	Discarded atomic.Int64 // reusable instances closed after their request
}

// Pools keeps one pool per memory limit, and per snapshot image. The zero
// value is ready to use.
type Pools struct {
	mu     sync.Mutex
	pools  map[uint64]*Pool
	images map[imagePool]*Pool // pools of snapshot images
	stats  Stats
}

// Stats are the counters of every pool of s.
func (s *Pools) Stats() *Stats { return &s.stats }

type imagePool struct {
	limit uint64
	image *Image
}

// GetImage returns the pool of memories that start as img, one per limit
// and image: its free memories hold the image already.
func (s *Pools) GetImage(limit uint64, img *Image) *Pool {
	base := s.Get(limit)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.images == nil {
		s.images = map[imagePool]*Pool{}
	}
	k := imagePool{base.limit, img}
	p := s.images[k]
	if p == nil {
		p = &Pool{limit: base.limit, stats: &s.stats, image: img}
		s.images[k] = p
	}
	return p
}

// DropImage unreserves the free memories of img's pools and forgets
// them. Module.Close calls it once no program of the module runs, so no
// memory of these pools is in use.
func (s *Pools) DropImage(img *Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range s.images {
		if k.image == img {
			p.unreserveFree()
			delete(s.images, k)
		}
	}
}

func (p *Pool) unreserveFree() {
	p.mu.Lock()
	for _, m := range p.free {
		unreserve(m.region)
	}
	p.free = nil
	p.mu.Unlock()
}

// Get returns the pool of zeroed memories of limit bytes (0 or more than
// wasm32 allows: the most it allows), rounded up to whole pages.
func (s *Pools) Get(limit uint64) *Pool {
	if limit == 0 || limit > maxMemory {
		limit = maxMemory
	}
	limit = (limit + PageSize - 1) / PageSize * PageSize
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pools == nil {
		s.pools = map[uint64]*Pool{}
	}
	p := s.pools[limit]
	if p == nil {
		p = &Pool{limit: limit, stats: &s.stats}
		s.pools[limit] = p
	}
	return p
}

// Release unreserves every free memory of every pool.
func (s *Pools) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pools {
		p.unreserveFree()
	}
	for _, p := range s.images {
		p.unreserveFree()
	}
}

// Call is the allocator of one call and the handle of the memory it
// hands out: it remembers the memory, so that Run can tell whether the
// guest was refused memory before it failed, and frees it at most once, so
// that Run can give it back itself if wazero did not
// (cmd/wasigate/DECISIONS.md#every-ending-releases-memory-and-files).
type Call struct {
	pool   *Pool
	mem    experimental.LinearMemory
	freed  bool
	onFree func() // run before the memory goes back to the pool
}

var _ experimental.LinearMemory = (*Call)(nil)

// NewCall returns the allocator of one call's memory, from pool.
func NewCall(pool *Pool) *Call { return &Call{pool: pool} }

// Allocate implements experimental.MemoryAllocator.
func (c *Call) Allocate(cap, max uint64) experimental.LinearMemory {
	c.mem = c.pool.Allocate(cap, max)
	return c
}

// Reallocate implements experimental.LinearMemory.
func (c *Call) Reallocate(size uint64) []byte { return c.mem.Reallocate(size) }

// Free implements experimental.LinearMemory. wazero calls it from the
// goroutine that closes the instance; release runs after that, on the
// same goroutine as Run.
func (c *Call) Free() {
	if c.mem == nil || c.freed {
		return
	}
	c.freed = true
	if c.onFree != nil {
		c.onFree()
	}
	c.mem.Free()
}

// OnFree sets f to run once before the memory is freed, whoever frees it
// (wazero closing the instance, or Release): for what must be undone
// before its region serves another memory.
func (c *Call) OnFree(f func()) { c.onFree = f }

// Release frees the memory if the instance's close did not, and counts it:
// a memory still allocated when Run returns would stay out of its pool.
func (c *Call) Release() {
	if c.mem != nil && !c.freed {
		c.pool.stats.Rescued.Add(1)
		c.Free()
	}
}

// Stats are the counters of the call's pool.
func (c *Call) Stats() *Stats { return c.pool.stats }

// Pooled reports whether the memory is a reserved region of the pool,
// where an image can be mapped (not the Go heap's fallback).
func (c *Call) Pooled() bool {
	_, ok := c.mem.(*linearMemory)
	return ok
}

// ClearRefused forgets that the guest was refused memory, for a reused
// instance's next request.
func (c *Call) ClearRefused() {
	if m, ok := c.mem.(*linearMemory); ok {
		m.refused = false
	}
}

// Refused reports whether the guest's memory.grow failed at the limit.
func (c *Call) Refused() bool {
	switch m := c.mem.(type) {
	case *linearMemory:
		return m.refused
	case *heapMemory:
		return m.refused
	}
	return false
}
