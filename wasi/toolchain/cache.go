package toolchain

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The kept builds under Dir/builds: a module is kept signed, with the
// reason of a fallback build beside it, under the hash of what decides
// its output (hashSource), so an unchanged source is not built again.

// cached returns the kept build at out when there is one and its
// signature holds; a module kept before max_module_size was lowered is
// refused, and one changed behind the server's back is removed.
func (b *Builder) cached(src, out string) (Result, bool, error) {
	st := b.state()
	st.kept.Lock()
	defer st.kept.Unlock()
	if _, err := os.Stat(out); err != nil {
		return Result{}, false, nil
	}
	if err := checkSize(out, src, maxOr(b.MaxModuleSize)); err != nil {
		// Kept before the bound was lowered: not read, not kept.
		b.remove(out)
		return Result{}, false, err
	}
	if b.Key == nil || b.Key.Verify(out, out+".hmac") == nil {
		// Used now: the cache's trim drops the least recently used.
		now := time.Now()
		_ = os.Chtimes(out, now, now)
		return Result{Path: out, Cached: true, Fallback: readFallback(out)}, true, nil
	}
	// Changed behind the server's back: never run it, build afresh.
	_ = os.Remove(out)
	return Result{}, false, nil
}

// keep moves a build's module.wasm to out, signed, with the reason of a
// fallback build beside it. A module over MaxModuleSize is refused from
// its size alone and left in tmpDir, which the build removes.
func (b *Builder) keep(tmpDir, src, out, fallback string) error {
	if err := checkSize(filepath.Join(tmpDir, "module.wasm"), src, maxOr(b.MaxModuleSize)); err != nil {
		return err
	}
	st := b.state()
	st.kept.Lock()
	defer st.kept.Unlock()
	_ = os.Remove(fallbackPath(out))
	if fallback != "" {
		if err := os.WriteFile(fallbackPath(out), []byte(fallback), 0o600); err != nil {
			return err
		}
	}
	if err := os.Rename(filepath.Join(tmpDir, "module.wasm"), out); err != nil {
		return err
	}
	if b.Key != nil {
		if err := b.Key.Sign(out, out+".hmac"); err != nil {
			_ = os.Remove(out)
			return err
		}
	}
	return nil
}

// remove deletes a kept module and what is kept beside it.
func (b *Builder) remove(out string) {
	for _, p := range []string{out, out + ".hmac", fallbackPath(out)} {
		_ = os.Remove(p)
	}
}

// hashSource hashes everything that decides the build's output: the kind,
// the compiler's path, and the source files (every file of a folder; for Go
// also the go.mod and go.sum of the module around it).
func hashSource(src string, kind Kind, tool string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", kind, tool)
	if kind == Go {
		fmt.Fprintf(h, "%s\x00%s\x00", goReactorVersion, goMainSource)
	}
	if st, err := os.Stat(tool); err == nil {
		fmt.Fprintf(h, "%d\x00%d\x00", st.Size(), st.ModTime().UnixNano())
	}
	files, err := Inputs(src)
	if err != nil {
		return "", err
	}
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return "", err
		}
		fmt.Fprintf(h, "%s\x00", filepath.Base(p))
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}
