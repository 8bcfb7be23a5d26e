package wasi

import (
	"os"
	"path/filepath"
	"slices"

	"github.com/wasigate/wasigate/wasi/internal/guestfs"
)

// A folder renamed into a watched folder's place. A deploy that writes the
// new scripts folder beside the old one and renames it into place (mv
// scripts old; mv new scripts) leaves every os.Root opened on the path on
// the old folder: the snapshot's init would read the old files, and
// requests would see the old folder (or, once it is deleted, nothing).
// Each Refresh stats every watched folder by path; when its identity
// (device and inode) is no longer the folder's that was opened:
//
//   - the folder is opened again (the engine's shared roots follow it),
//     and the init of the next snapshot sees the new one;
//   - the files the init read there are compared in the new folder (their
//     inodes differ: they all look edited), and the snapshot is taken again
//     for the edit as for any other, the folder named among the edited
//     files, even when the init read nothing there;
//   - a program moves to the new snapshot with the new folder mounted at
//     its next request (a new generation, snapage.go); a request already
//     running keeps the old folder and the old snapshot to its end, and the
//     old folder's root stays open (one descriptor per swap) until the
//     engine closes, as for a reload.
//
// A folder reached through a symbolic link that is pointed elsewhere is
// not followed: the route resolved the link when the site was built. Nor
// is a symbolic link renamed into the folder's place or its parent's: the
// route checked the folder it resolved (outside cache_dir, not /), never
// the link's target, so only a folder its path leads to through no link
// is opened again.

// watchDir is what was opened of a watched folder.
type watchDir struct {
	host string
	info os.FileInfo
}

// followSwaps opens again the watched folders renamed over since they were
// opened, and returns the guest paths of those not yet in a snapshot.
func (s *snapSrc) followSwaps() []string {
	type seen struct {
		guest string
		st    os.FileInfo
	}
	var moved []seen
	s.mu.Lock()
	dirs := s.watchDirs
	pending := slices.Clone(s.swapPending)
	s.mu.Unlock()
	for _, g := range s.watch {
		d := dirs[g]
		if d.info == nil {
			continue
		}
		if st, ok := realDir(d.host); ok && !os.SameFile(st, d.info) {
			moved = append(moved, seen{g, st})
		}
	}
	if len(moved) == 0 {
		return pending
	}
	for _, m := range moved {
		root, err := s.e.roots.Open(dirs[m.guest].host)
		if err != nil {
			continue // gone again: the next request looks again
		}
		if in, err := root.Stat("."); err != nil || !os.SameFile(in, m.st) {
			continue // a link renamed in between the look and the open
		}
		if _, ok := realDir(dirs[m.guest].host); !ok {
			continue
		}
		s.mu.Lock()
		if d := s.watchDirs[m.guest]; os.SameFile(d.info, m.st) || s.closed {
			s.mu.Unlock()
			continue // another request followed it first
		}
		s.remount(m.guest, root, m.st)
		if !slices.Contains(s.swapPending, m.guest) {
			s.swapPending = append(s.swapPending, m.guest)
		}
		pending = slices.Clone(s.swapPending)
		s.mu.Unlock()
	}
	return pending
}

// realDir returns what is at dir when it is a folder reached through no
// symbolic link (the path resolved is the path itself): a link renamed in
// place of the folder or of one of its parents leads where the route
// never checked.
func realDir(dir string) (os.FileInfo, bool) {
	if r, err := filepath.EvalSymlinks(dir); err != nil || r != filepath.Clean(dir) {
		return nil, false
	}
	st, err := os.Lstat(dir)
	return st, err == nil && st.IsDir()
}

// remount makes the watched folder at guest the one root opens, whose
// identity is st; s.mu is held.
func (s *snapSrc) remount(guest string, root *os.Root, st os.FileInfo) {
	d := s.watchDirs[guest]
	dirs := make(map[string]watchDir, len(s.watchDirs))
	for k, v := range s.watchDirs {
		dirs[k] = v
	}
	dirs[guest] = watchDir{host: d.host, info: st}
	s.watchDirs = dirs
	s.watchRoots[guest] = root
	fs := guestfs.VolumeFS(root, false)
	// Copies, not edits: the old slices and maps are the old snapshot's
	// and the running requests'.
	s.base.Dirs = slices.Clone(s.base.Dirs)
	for i := range s.base.Dirs {
		if s.base.Dirs[i].Guest == guest && s.base.Dirs[i].FS != nil {
			s.base.Dirs[i].FS = fs
		}
	}
	mounts := make(map[string]guestfs.Mount, len(s.remounts)+1)
	for k, v := range s.remounts {
		mounts[k] = v
	}
	mounts[guest] = guestfs.Mount{Guest: guest, FS: fs, Host: d.host, Root: root}
	s.remounts = mounts
	s.swapGen++
	s.curWatch = reroot(s.curWatch, guest, root)
	if s.editFail != nil {
		f := *s.editFail
		f.files = reroot(f.files, guest, root)
		s.editFail = &f
	}
}

// reroot returns files with those under the watched folder guest looked
// up in root.
func reroot(files []watchFile, guest string, root *os.Root) []watchFile {
	out := slices.Clone(files)
	for i := range out {
		if out[i].dep.Dir == guest {
			out[i].root = root
		}
	}
	return out
}

// withRemounts returns mounts with the folders reopened after a swap in
// place of the ones opened at Prepare.
func withRemounts(mounts []guestfs.Mount, re map[string]guestfs.Mount) []guestfs.Mount {
	if len(re) == 0 {
		return mounts
	}
	out := slices.Clone(mounts)
	for i, m := range out {
		if n, ok := re[m.Guest]; ok && !m.Writable && m.Host == n.Host {
			out[i] = n
		}
	}
	return out
}
