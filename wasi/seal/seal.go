// Package seal keeps wasigate's on-disk cache its own
// (cmd/wasigate/DECISIONS.md#the-cache-is-the-servers-alone-and-signed): it
// checks that the cache folder belongs to the server's user and that nobody
// else may write to it, and it signs each cached file with an HMAC-SHA256
// under a random per-cache key, so that an entry changed behind the
// server's back is detected and thrown away instead of executed. wazero's
// own file cache carries only a CRC, which whoever changes an entry can
// recompute.
package seal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrUnsafeDir is wrapped by the error of a cache folder that another user
// owns or may write to.
var ErrUnsafeDir = errors.New("cache folder not private to the server's user")

// ErrTampered is wrapped by Verify's error for a file whose signature is
// missing or does not match.
var ErrTampered = errors.New("cache entry fails its integrity check")

// CheckDir reports the first folder at or under dir (symbolic links are
// not followed into) that is not owned by the current user or is writable
// by group or others, like suEXEC's checks before it runs a program.
func CheckDir(dir string) error {
	uid := os.Getuid()
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != uid {
			return fmt.Errorf("%w: %s is owned by uid %d, not the server's uid %d", ErrUnsafeDir, p, st.Uid, uid)
		}
		if info.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("%w: %s is writable by group or others (mode %v)", ErrUnsafeDir, p, info.Mode().Perm())
		}
		return nil
	})
}

// Key signs and verifies the files of one cache folder.
type Key struct{ k []byte }

// keyFile is where a cache keeps its key, readable by the server's user
// only.
const keyFile = "hmac.key"

// LoadKey returns the cache's key from dir, creating it (32 random bytes,
// mode 0600) the first time. A key file others can read is refused: who
// knows the key can forge entries.
func LoadKey(dir string) (*Key, error) {
	p := filepath.Join(dir, keyFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		b = make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadKey(dir) // another process made it first
		}
		if err != nil {
			return nil, fmt.Errorf("cache key: %w", err)
		}
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("cache key: %w", err)
		}
		return &Key{k: b}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cache key: %w", err)
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("cache key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v, want 0600", ErrUnsafeDir, p, st.Mode().Perm())
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("cache key %s: %d bytes, want 32", p, len(b))
	}
	return &Key{k: b}, nil
}

// Sum is the HMAC-SHA256 of the file at path, hex-encoded.
func (k *Key) Sum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	m := hmac.New(sha256.New, k.k)
	if _, err := io.Copy(m, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(m.Sum(nil)), nil
}

// Sign writes the signature of the file at path to sig.
func (k *Key) Sign(path, sig string) error {
	s, err := k.Sum(path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(sig), 0o700); err != nil {
		return err
	}
	// A temporary file of its own: two signers of one entry at once (two
	// tenants building the same source) must not rename each other's.
	f, err := os.CreateTemp(filepath.Dir(sig), filepath.Base(sig)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, sig)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Verify checks the file at path against the signature in sig. A missing
// signature fails like a wrong one (ErrTampered).
func (k *Key) Verify(path, sig string) error {
	want, err := k.signature(path, sig)
	if err != nil {
		return err
	}
	got, err := k.Sum(path)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(got), want) {
		return fmt.Errorf("%w: %s", ErrTampered, path)
	}
	return nil
}

// VerifyBytes checks b, read from path, against the signature in sig:
// what was checked is then exactly what is used, read once.
func (k *Key) VerifyBytes(b []byte, path, sig string) error {
	want, err := k.signature(path, sig)
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, k.k)
	m.Write(b)
	if !hmac.Equal([]byte(hex.EncodeToString(m.Sum(nil))), want) {
		return fmt.Errorf("%w: %s", ErrTampered, path)
	}
	return nil
}

func (k *Key) signature(path, sig string) ([]byte, error) {
	want, err := os.ReadFile(sig)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no signature", ErrTampered, path)
	}
	return want, err
}
