package router

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// dirWatcher is an inotify queue read without blocking on the request's
// path. fsnotify, used for the configuration's live reload, hands events
// over from a goroutine: a request right after an edit could run before
// that goroutine had passed the event on, and serve the old application.
type dirWatcher struct {
	fd  int
	buf []byte
}

// watchMask is every change to a folder's entries or to the folder.
const watchMask = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE | unix.IN_CREATE | unix.IN_DELETE |
	unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// errRemoteFS: the folder is on a file system whose changes made
// elsewhere (another client, the host of a VM's shared folder) bring no
// event.
var errRemoteFS = errors.New("on a network or FUSE file system")

// Magic numbers of the file systems whose remote writes inotify misses
// (statfs(2)).
var remoteFS = map[uint32]string{
	0x6969:     "nfs",
	0x517b:     "smb",
	0xff534d42: "cifs",
	0xfe534d42: "smb2",
	0x65735546: "fuse",
	0x01021997: "9p",
	0x6a656a63: "virtiofs",
	0x73757245: "coda",
	0x564c:     "ncp",
	0x47504653: "gpfs",
	0x0bd00bd0: "lustre",
}

func newDirWatcher() (*dirWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	return &dirWatcher{fd: fd, buf: make([]byte, 4096)}, nil
}

// add watches dir (again: a watched folder keeps its one watch).
func (w *dirWatcher) add(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	if name, ok := remoteFS[uint32(st.Type)]; ok {
		return fmt.Errorf("%s is %w (%s)", dir, errRemoteFS, name)
	}
	if _, err := unix.InotifyAddWatch(w.fd, dir, watchMask); err != nil {
		// ENOSPC: fs.inotify.max_user_watches reached.
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	return nil
}

// fileMask is every change to a file's content or times, through any of
// its names.
const fileMask = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE | unix.IN_DONT_FOLLOW

// addFile watches a file found in a watched folder (so on the same kind of
// file system).
func (w *dirWatcher) addFile(file string) error {
	if _, err := unix.InotifyAddWatch(w.fd, file, fileMask); err != nil && !errors.Is(err, unix.ENOENT) {
		// ENOENT: removed since the folder was read, which its folder's
		// watch tells.
		return fmt.Errorf("watch %s: %w", file, err)
	}
	return nil
}

// changed empties the queue and reports whether it held any event.
func (w *dirWatcher) changed() (bool, error) {
	got := false
	for {
		n, err := unix.Read(w.fd, w.buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return got, nil
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return true, fmt.Errorf("inotify read: %w", err)
		case n <= 0:
			return got, nil
		}
		got = true
	}
}

func (w *dirWatcher) close() { _ = unix.Close(w.fd) }
