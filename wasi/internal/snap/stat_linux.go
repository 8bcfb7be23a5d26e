//go:build linux

package snap

import (
	"fmt"
	"io/fs"
	"syscall"
)

// statExtra is what a fingerprint (deps.go) adds of a file beyond its
// size and modification time: its inode and change time.
func statExtra(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf(" %d %d.%d", st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
}
