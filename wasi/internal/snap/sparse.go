package snap

import (
	"fmt"
	"os"
)

// WriteSparse writes mem to path (through a temporary file renamed over
// it), leaving its zero 4 KiB pages as holes.
func WriteSparse(path string, mem []byte) error {
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
