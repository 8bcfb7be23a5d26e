package wasi

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wasigate/wasigate/wasi/seal"
)

// sealedCache signs the entries of wazero's file cache
// (cmd/wasigate/DECISIONS.md#the-cache-is-the-servers-alone-and-signed). wazero
// v1.12 checks an entry only with a CRC of its native code, which whoever
// changes the entry can recompute, and offers no hook into its file cache
// (internal/filecache). So the engine keeps an HMAC per entry beside it and
// checks, before each compile, the entries that module was compiled into
// (recorded in seen/HASH): an entry that fails is deleted, and wazero
// compiles the module afresh instead of mapping the bytes as code. An
// entry is checked when its module is compiled, not at start: reading and
// hashing the whole cache at every start grew with it (3.9 GB here, seconds
// a start). At start, the entries of modules not compiled for
// CacheMaxAge are deleted (before marks its module used), and so are
// entries no module claims once as old.
//
// What it cannot see: an entry written into the folder during a compile
// is signed as that compile's. The folder is the server's user's alone
// (seal.CheckDir at start), so this needs that user's rights already.
type sealedCache struct {
	key     *seal.Key
	dir     string // wazero's folder: one folder per wazero version inside
	sigDir  string // the signatures, by entry
	seenDir string // per module hash: the entries its compile wrote

	mu        sync.Mutex
	compiling int
	removed   int // entries deleted because they failed (for tests, check)
	// inUse: the markers and cached snapshots this engine compiled or
	// loaded, marked used again while it runs (keepUsed): a server up for
	// longer than CacheMaxAge uses them all along, and its restart must
	// not find them unused.
	inUse map[string]bool
	stop  chan struct{}

	// The size bound (cachetrim.go): maxSize (<= 0: none) over the cache
	// folder root; isHeld says whether an open module uses a file; busy
	// counts the compiles under way by module hash.
	maxSize int64
	root    string
	isHeld  func(path string) bool
	busy    map[string]int
	trimmed int // groups deleted by the bound or as superseded
}

// keepEvery is how often a running engine marks what it uses.
const keepEvery = 24 * time.Hour

// use records path as used by this engine.
func (c *sealedCache) use(path string) {
	c.mu.Lock()
	if c.inUse == nil {
		c.inUse = map[string]bool{}
	}
	c.inUse[path] = true
	c.mu.Unlock()
}

// keepUsed marks what this engine uses as used now.
func (c *sealedCache) keepUsed() {
	c.mu.Lock()
	paths := make([]string, 0, len(c.inUse))
	for p := range c.inUse {
		paths = append(paths, p)
	}
	c.mu.Unlock()
	now := time.Now()
	for _, p := range paths {
		_ = os.Chtimes(p, now, now)
	}
}

// keep runs keepUsed every keepEvery until close.
func (c *sealedCache) keep() {
	stop := make(chan struct{})
	c.stop = stop
	go func() {
		t := time.NewTicker(keepEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				c.keepUsed()
			case <-stop:
				return
			}
		}
	}()
}

func (c *sealedCache) close() {
	if c.stop != nil {
		close(c.stop)
		c.stop = nil
	}
}

func newSealedCache(cacheDir string, maxAge time.Duration) (*sealedCache, error) {
	key, err := seal.LoadKey(cacheDir)
	if err != nil {
		return nil, err
	}
	c := &sealedCache{key: key, dir: filepath.Join(cacheDir, "wazero"),
		sigDir: filepath.Join(cacheDir, "wazero-sig"), seenDir: filepath.Join(cacheDir, "seen")}
	for _, d := range []string{c.sigDir, c.seenDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("cache dir: %w", err)
		}
	}
	c.prune(time.Now().Add(-maxAge))
	return c, nil
}

// prune deletes the entries of the modules last compiled before old, and
// the entries no module claims that are older than old.
func (c *sealedCache) prune(old time.Time) {
	// Two markers may list the same entry (after records every entry that
	// appeared during a compile, a concurrent one's too): an entry is
	// dropped only when no marker used since old lists it.
	claimed := map[string]bool{}
	var stale []string
	var staleEntries []string
	markers, _ := os.ReadDir(c.seenDir)
	for _, m := range markers {
		path := filepath.Join(c.seenDir, m.Name())
		list, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		info, err := m.Info()
		unused := err == nil && info.ModTime().Before(old)
		for _, e := range strings.Fields(string(list)) {
			if !filepath.IsLocal(e) {
				continue // not one of the cache's entries
			}
			if unused {
				staleEntries = append(staleEntries, e)
			} else {
				claimed[e] = true
			}
		}
		if unused {
			stale = append(stale, path)
		}
	}
	for _, e := range staleEntries {
		if !claimed[e] {
			c.drop(e)
		}
	}
	for _, path := range stale {
		_ = os.Remove(path)
	}
	for e := range c.entries() {
		if info, err := os.Stat(filepath.Join(c.dir, e)); err == nil && !claimed[e] && info.ModTime().Before(old) {
			c.drop(e)
		}
	}
}

// drop deletes an entry and its signature (unused, not failed).
func (c *sealedCache) drop(entry string) {
	_ = os.Remove(filepath.Join(c.dir, entry))
	_ = os.Remove(c.sig(entry))
}

// entries lists wazero's cache files as "version-folder/name", leaving
// out the temporary files of writes under way.
func (c *sealedCache) entries() map[string]bool {
	out := map[string]bool{}
	vers, _ := os.ReadDir(c.dir)
	for _, v := range vers {
		if !v.IsDir() {
			continue
		}
		files, _ := os.ReadDir(filepath.Join(c.dir, v.Name()))
		for _, f := range files {
			if !f.IsDir() && !strings.HasSuffix(f.Name(), ".tmp") {
				out[v.Name()+"/"+f.Name()] = true
			}
		}
	}
	return out
}

func (c *sealedCache) sig(entry string) string {
	return filepath.Join(c.sigDir, strings.ReplaceAll(entry, "/", "_"))
}

func (c *sealedCache) remove(entry string) {
	_ = os.Remove(filepath.Join(c.dir, entry))
	_ = os.Remove(c.sig(entry))
	c.removed++
}

// seen reports whether the module with this hash was compiled into the
// cache before (wazero does not say whether it hit its file cache).
func (c *sealedCache) seen(hash string) bool {
	_, err := os.Stat(filepath.Join(c.seenDir, hash))
	return err == nil
}

// before checks the entries of the module with this hash and deletes
// those that fail; unsigned entries are deleted too when no compile of
// this engine could be writing them. It returns the entries there are
// now, for after. cached is false when an entry failed.
func (c *sealedCache) before(hash string) (snapshot map[string]bool, cached bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	marker := filepath.Join(c.seenDir, hash)
	list, err := os.ReadFile(marker)
	cached = err == nil
	if cached {
		now := time.Now()
		_ = os.Chtimes(marker, now, now) // used: kept by prune
	}
	if c.inUse == nil {
		c.inUse = map[string]bool{}
	}
	c.inUse[marker] = true
	for _, e := range strings.Fields(string(list)) {
		if !filepath.IsLocal(e) {
			cached = false // not one of the cache's entries
			continue
		}
		if _, err := os.Stat(filepath.Join(c.dir, e)); errors.Is(err, os.ErrNotExist) {
			cached = false // removed at start, or by wazero: compiled again
			continue
		}
		if c.key.Verify(filepath.Join(c.dir, e), c.sig(e)) != nil {
			c.remove(e)
			_ = os.Remove(marker)
			cached = false
		}
	}
	if c.compiling == 0 {
		for e := range c.entries() {
			if _, err := os.Stat(c.sig(e)); err != nil {
				c.remove(e)
			}
		}
	}
	c.compiling++
	if c.busy == nil {
		c.busy = map[string]int{}
	}
	c.busy[hash]++
	return c.entries(), cached
}

// after signs the entries that appeared since before and records them as
// the module's.
func (c *sealedCache) after(hash string, snapshot map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.compiling--
	defer func() {
		if c.busy[hash]--; c.busy[hash] <= 0 {
			delete(c.busy, hash)
		}
	}()
	marker := filepath.Join(c.seenDir, hash)
	old, _ := os.ReadFile(marker)
	mine := map[string]bool{}
	for _, e := range strings.Fields(string(old)) {
		mine[e] = true
	}
	added := false
	for e := range c.entries() {
		if !snapshot[e] {
			if c.key.Sign(filepath.Join(c.dir, e), c.sig(e)) == nil {
				mine[e] = true
				added = true
			}
		}
	}
	var b strings.Builder
	for e := range mine {
		b.WriteString(e + "\n")
	}
	_ = os.WriteFile(marker, []byte(b.String()), 0o600)
	if added {
		// With the marker written, the new entries are this module's
		// (held until after returns) and no longer loose ones.
		c.trimLocked()
	}
}

// Removed is how many cache entries failed their check and were deleted
// since the engine started.
func (e *Engine) Removed() int {
	if e.sealed == nil {
		return 0
	}
	e.sealed.mu.Lock()
	defer e.sealed.mu.Unlock()
	return e.sealed.removed
}
