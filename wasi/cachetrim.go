package wasi

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wasigate/wasigate/wasi/toolchain"
)

// The cache folder is bounded in size (Options.CacheMaxSize). Ten edits
// of a 640 KB script left ten builds and ten compiled modules there until
// the age sweep, 9.75 MB for one script; a scripts folder edited all day
// grows without end. Two things keep it bounded:
//
//   - a script's superseded version (its build, its compiled code, its
//     snapshots) is deleted as soon as no module uses it any more
//     (Scripts.closeIfFree calls dropSuperseded);
//   - past CacheMaxSize, whole entries go least recently used first
//     (trim): a module's compiled code with its marker, a snapshot, a
//     build. An entry an open module uses, or a compile under way writes,
//     is never one of them.
//
// Go's own build cache (go-build) is left to Go, which trims it itself.

// cacheHolds counts the open modules that use each cache file: a
// module's marker (seen/HASH: its compiled code), its build output, its
// snapshots' files.
type cacheHolds struct {
	mu    sync.Mutex
	n     map[string]int
	byMod map[*Module][]string
}

func (h *cacheHolds) add(m *Module, paths []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n, h.byMod = map[string]int{}, map[*Module][]string{}
	}
	for _, p := range paths {
		if p != "" {
			h.n[p]++
			if m != nil {
				h.byMod[m] = append(h.byMod[m], p)
			}
		}
	}
}

func (h *cacheHolds) remove(paths []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range paths {
		if h.n[p] <= 1 {
			delete(h.n, p)
		} else {
			h.n[p]--
		}
	}
}

// held reports whether an open module uses the file at path.
func (h *cacheHolds) held(path string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[path] > 0
}

// hold and unhold mark files as used for a while (a build between its
// write and its compile).
func (e *Engine) hold(paths ...string)   { e.holds.add(nil, paths) }
func (e *Engine) unhold(paths ...string) { e.holds.remove(paths) }

// holdFor marks files as used by m until m is closed.
func (e *Engine) holdFor(m *Module, paths ...string) {
	if e.sealed == nil {
		return
	}
	e.holds.add(m, paths)
}

// releaseHolds lets go of what m held (Module.Close) and returns it.
func (e *Engine) releaseHolds(m *Module) []string {
	e.holds.mu.Lock()
	paths := e.holds.byMod[m]
	delete(e.holds.byMod, m)
	e.holds.mu.Unlock()
	e.holds.remove(paths)
	return paths
}

// heldBy returns the cache files m uses.
func (e *Engine) heldBy(m *Module) []string {
	e.holds.mu.Lock()
	defer e.holds.mu.Unlock()
	return append([]string(nil), e.holds.byMod[m]...)
}

// markerPath is the marker of the module with this hash: the list of
// its compiled code's entries. "" without a cache folder.
func (e *Engine) markerPath(hash string) string {
	if e.sealed == nil {
		return ""
	}
	return filepath.Join(e.sealed.seenDir, hash)
}

// trimCache trims the cache folder to its bound.
func (e *Engine) trimCache() {
	if e.sealed != nil {
		e.sealed.trim()
	}
}

// dropSuperseded deletes the cache files of a replaced version that no
// open module uses any more: the markers' compiled code, snapshots and
// builds among paths.
func (e *Engine) dropSuperseded(paths []string) {
	if e.sealed == nil {
		return
	}
	c := e.sealed
	c.mu.Lock()
	defer c.mu.Unlock()
	var markers []string
	for _, p := range paths {
		if p == "" || c.held(p) {
			continue
		}
		if filepath.Dir(p) == c.seenDir {
			markers = append(markers, p)
			continue
		}
		for _, f := range c.companions(p) {
			_ = os.Remove(f)
		}
	}
	if len(markers) > 0 {
		c.dropMarkers(markers)
	}
}

// cacheGroup is what the trim deletes at once, with its size on disk
// and when it was last used.
type cacheGroup struct {
	key   string   // the marker, snapshot or build the group is named by
	files []string // besides the marker's entries
	size  int64
	used  time.Time
}

// trim deletes whole groups, least recently used first, until the cache
// folder's groups fit maxSize.
func (c *sealedCache) trim() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trimLocked()
}

func (c *sealedCache) trimLocked() {
	if c.maxSize <= 0 || c.root == "" {
		return
	}
	groups, total := c.groups()
	if total <= c.maxSize {
		return
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].used.Before(groups[j].used) })
	for _, g := range groups {
		if total <= c.maxSize {
			break
		}
		if filepath.Dir(g.key) == c.seenDir {
			total -= c.dropMarkers([]string{g.key})
			continue
		}
		for _, f := range g.files {
			_ = os.Remove(f)
		}
		total -= g.size
		c.trimmed++
	}
}

// held reports whether an open module or a compile under way uses path.
func (c *sealedCache) held(path string) bool {
	if filepath.Dir(path) == c.seenDir && c.busy[filepath.Base(path)] > 0 {
		return true
	}
	return c.isHeld != nil && c.isHeld(path)
}

// groups lists what the trim may delete, leaving out what is held, and
// returns the size of all of it, held or not.
func (c *sealedCache) groups() ([]cacheGroup, int64) {
	var out []cacheGroup
	var total int64
	entries := c.entries()
	owner := map[string]string{} // entry -> the first marker listing it
	markers, _ := os.ReadDir(c.seenDir)
	for _, m := range markers {
		path := filepath.Join(c.seenDir, m.Name())
		info, err := m.Info()
		if err != nil {
			continue
		}
		g := cacheGroup{key: path, size: diskSize(info), used: info.ModTime()}
		held := c.held(path)
		for _, e := range c.listed(path) {
			if _, ok := owner[e]; ok || !entries[e] {
				continue
			}
			owner[e] = path
			g.size += fileSize(filepath.Join(c.dir, e)) + fileSize(c.sig(e))
		}
		total += g.size
		if !held {
			out = append(out, g)
		}
	}
	for e := range entries {
		if _, ok := owner[e]; ok {
			continue
		}
		p := filepath.Join(c.dir, e)
		info, err := os.Stat(p)
		if err != nil {
			continue
		}
		g := cacheGroup{key: p, files: []string{p, c.sig(e)}, size: diskSize(info) + fileSize(c.sig(e)), used: info.ModTime()}
		total += g.size
		// A compile under way writes entries no marker lists yet.
		if c.compiling == 0 {
			out = append(out, g)
		}
	}
	for _, dir := range []string{filepath.Join(c.root, "snapshots"), filepath.Join(c.root, toolchain.BuildsFolder)} {
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			if f.IsDir() || !strings.HasSuffix(f.Name(), ".wasm") {
				continue // a build's temporary folder, a write under way
			}
			p := filepath.Join(dir, f.Name())
			info, err := f.Info()
			if err != nil {
				continue
			}
			g := cacheGroup{key: p, files: c.companions(p), used: info.ModTime()}
			for _, x := range g.files {
				g.size += fileSize(x)
			}
			total += g.size
			if !c.held(p) {
				out = append(out, g)
			}
		}
	}
	return out, total
}

// companions are the files kept with a snapshot's or a build's .wasm,
// the .wasm last (a reader checks for it first).
func (c *sealedCache) companions(wasm string) []string {
	if filepath.Dir(wasm) == filepath.Join(c.root, "snapshots") {
		key := strings.TrimSuffix(filepath.Base(wasm), ".wasm")
		sig := filepath.Join(c.root, "snapshots-sig")
		return []string{filepath.Join(filepath.Dir(wasm), key+".deps"), filepath.Join(sig, key+".deps"), // snap.Store's deps.go
			filepath.Join(filepath.Dir(wasm), key+".img"),
			filepath.Join(sig, key+".wasm"), filepath.Join(sig, key+".img"), wasm}
	}
	return []string{wasm + ".hmac", wasm + ".fallback", wasm}
}

// listed returns the entries the marker at path lists.
func (c *sealedCache) listed(path string) []string {
	list, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range strings.Fields(string(list)) {
		if filepath.IsLocal(e) {
			out = append(out, e)
		}
	}
	return out
}

// dropMarkers deletes markers and the entries no other marker lists, and
// returns the bytes freed.
func (c *sealedCache) dropMarkers(paths []string) int64 {
	gone := map[string]bool{}
	for _, p := range paths {
		gone[p] = true
	}
	others := map[string]bool{}
	all, _ := os.ReadDir(c.seenDir)
	for _, m := range all {
		if p := filepath.Join(c.seenDir, m.Name()); !gone[p] {
			for _, e := range c.listed(p) {
				others[e] = true
			}
		}
	}
	var freed int64
	for _, p := range paths {
		for _, e := range c.listed(p) {
			if !others[e] {
				freed += fileSize(filepath.Join(c.dir, e)) + fileSize(c.sig(e))
				c.drop(e)
				others[e] = true // dropped once
			}
		}
		freed += fileSize(p)
		_ = os.Remove(p)
		c.trimmed++
	}
	return freed
}

// fileSize is the disk space of the file at path, 0 when there is none.
func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return diskSize(info)
}

// diskSize is the space a file takes: a snapshot's image is sparse, its
// apparent size the guest's whole memory.
func diskSize(info os.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}

// Trimmed is how many cache groups the size bound or a superseded
// version deleted since the engine started.
func (e *Engine) Trimmed() int {
	if e.sealed == nil {
		return 0
	}
	e.sealed.mu.Lock()
	defer e.sealed.mu.Unlock()
	return e.sealed.trimmed
}
