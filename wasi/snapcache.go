package wasi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasigate/wasigate/wasi/internal/rewrite"
)

// Snapshots are kept in the cache folder beside wazero's compile cache
// (issue 12), under snapshots/KEY.wasm (the rewritten module) and KEY.img
// (the memory image, a sparse file), each with an HMAC signature in
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

// pruneSnapshots deletes the cached snapshots unused for Options.CacheMaxAge,
// once per engine.
func (e *Engine) pruneSnapshots() {
	e.pruneOnce.Do(func() {
		dir := filepath.Join(e.cacheDir, "snapshots")
		ents, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		old := time.Now().Add(-e.maxAge)
		for _, ent := range ents {
			key, ok := strings.CutSuffix(ent.Name(), ".wasm")
			if !ok {
				continue
			}
			if info, err := ent.Info(); err == nil && info.ModTime().Before(old) {
				wasmPath, imgPath, wasmSig, imgSig := e.snapPaths(key)
				deps, depsSig := e.depsPaths(key) // snapstore.go
				for _, p := range []string{deps, depsSig, imgPath, wasmSig, imgSig, wasmPath} {
					_ = os.Remove(p)
				}
			}
		}
	})
}

func (e *Engine) snapPaths(key string) (wasm, img, wasmSig, imgSig string) {
	dir := filepath.Join(e.cacheDir, "snapshots")
	sig := filepath.Join(e.cacheDir, "snapshots-sig")
	return filepath.Join(dir, key+".wasm"), filepath.Join(dir, key+".img"),
		filepath.Join(sig, key+".wasm"), filepath.Join(sig, key+".img")
}

// loadSnapshot returns the cached snapshot of key, or nil; owner holds
// its files until it is closed.
func (e *Engine) loadSnapshot(rt wazero.Runtime, key string, owner *Module) *snapshot {
	if e.sealed == nil {
		return nil
	}
	wasmPath, imgPath, wasmSig, imgSig := e.snapPaths(key)
	// Marked used before the prune: the last start that loaded it may have
	// run for longer than the cache's max age, using it all along.
	now := time.Now()
	_ = os.Chtimes(wasmPath, now, now)
	e.pruneSnapshots()
	if _, err := os.Stat(wasmPath); err != nil {
		return nil
	}
	drop := func() {
		for _, p := range []string{wasmPath, imgPath, wasmSig, imgSig} {
			_ = os.Remove(p)
		}
	}
	// Read once, then checked in memory: what was checked is what is used.
	wasm, err1 := os.ReadFile(wasmPath)
	mem, err2 := os.ReadFile(imgPath)
	if err := errors.Join(err1, err2); err != nil || len(mem)%wasmPage != 0 ||
		e.sealed.key.VerifyBytes(wasm, wasmPath, wasmSig) != nil || e.sealed.key.VerifyBytes(mem, imgPath, imgSig) != nil {
		drop()
		return nil
	}
	if rewrite.CheckBounds(wasm) != nil {
		drop()
		return nil
	}
	img, err := newSnapImage(mem)
	if err != nil {
		return nil
	}
	compiled, err := e.compileBytes(context.Background(), rt, wasm)
	if err != nil {
		img.close()
		drop()
		return nil
	}
	e.sealed.use(wasmPath)
	e.holdFor(owner, wasmPath, e.markerPath(sha256Hex(wasm)))
	return &snapshot{compiled: compiled, image: img,
		info: SnapshotInfo{On: true, Cached: true, Image: img.size, Mapped: !img.copy,
			Code: e.codeSize(sha256Hex(wasm), definedFunctions(wasm))}}
}

// saveSnapshot stores a snapshot taken now; failing to is not an error
// (the next start takes it again). owner holds its files until it is
// closed.
func (e *Engine) saveSnapshot(key string, wasm, mem []byte, owner *Module) {
	if e.sealed == nil {
		return
	}
	e.pruneSnapshots()
	wasmPath, imgPath, wasmSig, imgSig := e.snapPaths(key)
	if err := os.MkdirAll(filepath.Dir(wasmPath), 0o700); err != nil {
		return
	}
	if writeFile(wasmPath, wasm) != nil || writeSparse(imgPath, mem) != nil {
		return
	}
	_ = e.sealed.key.Sign(wasmPath, wasmSig)
	_ = e.sealed.key.Sign(imgPath, imgSig)
	e.sealed.use(wasmPath)
	e.holdFor(owner, wasmPath, e.markerPath(sha256Hex(wasm)))
	e.sealed.trim()
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeSparse writes mem leaving its zero 4 KiB pages as holes.
func writeSparse(path string, mem []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(int64(len(mem)))
	for off := 0; off < len(mem) && err == nil; off += 4096 {
		if p := mem[off:min(off+4096, len(mem))]; !isZero(p) {
			_, err = f.WriteAt(p, int64(off))
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("snapshot cache: %w", err)
	}
	return os.Rename(tmp, path)
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
