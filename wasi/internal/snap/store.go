package snap

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wasigate/wasigate/wasi/internal/rewrite"
	"github.com/wasigate/wasigate/wasi/seal"
)

// Snapshots are kept in the cache folder beside wazero's compile cache,
// under snapshots/KEY.wasm (the rewritten module), KEY.img
// (the memory image, a sparse file) and KEY.deps (what the init read,
// deps.go), each with an HMAC signature in
// snapshots-sig/ made with the cache's key (wasi/seal). A file that fails
// its signature is deleted and the snapshot is taken again: like the
// compile cache, the folder may be written by whoever can write it, and a
// changed image would be another program.

// Cached snapshots unused for Options.CacheMaxAge are deleted, like
// compiled code: each start that loads one marks it used, and so does a
// running engine every day; the first snapshot an engine takes or loads
// deletes the others. (A changed module, preload list or volume set takes
// a new one; the old ones would pile up, an interpreter's image being tens
// of MiB.)

// Store is the snapshots of one cache folder, signed with its key.
type Store struct {
	dir       string
	maxAge    time.Duration
	key       *seal.Key
	pruneOnce sync.Once
}

// NewStore returns the store of the cache folder cacheDir, whose entries
// unused for maxAge are deleted.
func NewStore(cacheDir string, maxAge time.Duration, key *seal.Key) *Store {
	return &Store{dir: cacheDir, maxAge: maxAge, key: key}
}

// prune deletes the cached snapshots unused for maxAge, once per store.
func (s *Store) prune() {
	s.pruneOnce.Do(func() {
		dir := filepath.Join(s.dir, "snapshots")
		ents, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		old := time.Now().Add(-s.maxAge)
		for _, ent := range ents {
			key, ok := strings.CutSuffix(ent.Name(), ".wasm")
			if !ok {
				continue
			}
			if info, err := ent.Info(); err == nil && info.ModTime().Before(old) {
				wasmPath, imgPath, wasmSig, imgSig := s.paths(key)
				deps, depsSig := s.depsPaths(key)
				for _, p := range []string{deps, depsSig, imgPath, wasmSig, imgSig, wasmPath} {
					_ = os.Remove(p)
				}
			}
		}
	})
}

func (s *Store) paths(key string) (wasm, img, wasmSig, imgSig string) {
	dir := filepath.Join(s.dir, "snapshots")
	sig := filepath.Join(s.dir, "snapshots-sig")
	return filepath.Join(dir, key+".wasm"), filepath.Join(dir, key+".img"),
		filepath.Join(sig, key+".wasm"), filepath.Join(sig, key+".img")
}

// Load returns the module and memory of the cached snapshot of key and the
// module's path, checked against their signatures, the page size and the
// module bounds check; ok is false when there is none, or it failed a
// check and was deleted. Loading marks it used.
func (s *Store) Load(key string) (wasm, mem []byte, wasmPath string, ok bool) {
	wasmPath, imgPath, wasmSig, imgSig := s.paths(key)
	// Marked used before the prune: the last start that loaded it may have
	// run for longer than the cache's max age, using it all along.
	now := time.Now()
	_ = os.Chtimes(wasmPath, now, now)
	s.prune()
	if _, err := os.Stat(wasmPath); err != nil {
		return nil, nil, "", false
	}
	// Read once, then checked in memory: what was checked is what is used.
	wasm, err1 := os.ReadFile(wasmPath)
	mem, err2 := os.ReadFile(imgPath)
	if err := errors.Join(err1, err2); err != nil || len(mem)%PageSize != 0 ||
		s.key.VerifyBytes(wasm, wasmPath, wasmSig) != nil || s.key.VerifyBytes(mem, imgPath, imgSig) != nil {
		s.Drop(key)
		return nil, nil, "", false
	}
	if rewrite.CheckBounds(wasm) != nil {
		s.Drop(key)
		return nil, nil, "", false
	}
	return wasm, mem, wasmPath, true
}

// Drop deletes the cached snapshot of key.
func (s *Store) Drop(key string) {
	wasmPath, imgPath, wasmSig, imgSig := s.paths(key)
	deps, depsSig := s.depsPaths(key)
	for _, p := range []string{deps, depsSig, wasmPath, imgPath, wasmSig, imgSig} {
		_ = os.Remove(p)
	}
}

// Save stores a snapshot taken now and returns its module's path; failing
// to is not an error (the next start takes it again): ok is false.
func (s *Store) Save(key string, wasm, mem []byte) (wasmPath string, ok bool) {
	s.prune()
	wasmPath, imgPath, wasmSig, imgSig := s.paths(key)
	if err := os.MkdirAll(filepath.Dir(wasmPath), 0o700); err != nil {
		return "", false
	}
	if writeFile(wasmPath, wasm) != nil || WriteSparse(imgPath, mem) != nil {
		return "", false
	}
	_ = s.key.Sign(wasmPath, wasmSig)
	_ = s.key.Sign(imgPath, imgSig)
	return wasmPath, true
}

func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// SHA256Hex is the hex SHA-256 of b, the name the caches give bytes.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
