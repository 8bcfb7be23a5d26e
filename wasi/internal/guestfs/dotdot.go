package guestfs

import (
	"path"
	"strings"
)

// A path that climbs above the preopened folder it is given relative to
// ("../etc/passwd" from /cgi-bin, which wasi-libc sends as "../etc/passwd"
// relative to the /cgi-bin preopen) is refused by wazero before any file
// system sees it (EPERM): Python raises PermissionError where a container
// would answer FileNotFoundError. And one whose ".." leads into another
// volume ("/x/../data/f", which wasi-libc sends to the empty root as
// "x/../data/f") reaches the wrong file system. Resolve resolves such a
// path lexically against the guest's absolute path, as wazero resolves
// ".." in every other path and as Go's wasip1 runtime does before it calls
// the host: /cgi-bin/../x is /x, and /data/../cgi-bin/f is the scripts
// folder's f. The result is a path inside one preopen, free of "..", which
// that preopen's file system confines as any other (os.Root refuses what
// leaves the folder, symbolic links included).

// Preopens returns the guest paths of the folders ConfigCount preopens, in
// the order of their descriptors (wazero numbers them from 3), or nil when
// mounts is empty (nothing is preopened then, not even the empty root).
// wazero keeps one preopen per guest path: two mounts at one path ("/data"
// and "/data/", or a volume at the scripts folder's path) take one
// descriptor, the earlier's, for the later mount.
func Preopens(mounts []Mount) []string {
	if len(mounts) == 0 {
		return nil
	}
	var out []string
	at := map[string]int{}
	for _, m := range withRoot(mounts) {
		g := path.Clean("/" + m.Guest)
		if i, ok := at[mountKey(m.Guest)]; ok {
			out[i] = g
			continue
		}
		at[mountKey(m.Guest)] = len(out)
		out = append(out, g)
	}
	return out
}

// mountKey is the name wazero's FSConfig tells mounts apart by: the guest
// path without trailing slashes nor leading "/" and "./" ("/" is "").
func mountKey(g string) string {
	g = strings.TrimRight(g, "/")
	for {
		switch {
		case strings.HasPrefix(g, "/"):
			g = g[1:]
		case strings.HasPrefix(g, "./"):
			g = g[2:]
		case g == ".":
			return ""
		default:
			return g
		}
	}
}

// Resolve resolves p, given relative to preopens[i], when its ".." climb
// above that folder or lead into another preopen. It returns the preopen
// that holds the resolved path, as wasi-libc would choose it for the
// absolute path (the longest prefix; the later of two equal ones), and the
// path relative to it, with p's trailing slash kept. ok is false when p
// needs nothing of this (wazero resolves it alike), when i is not a
// preopen, or when no preopen holds the resolved path (no empty root): the
// caller then leaves the call as it was.
func Resolve(preopens []string, i int, p string) (j int, rel string, ok bool) {
	if i < 0 || i >= len(preopens) || !hasDotDot(p) {
		return 0, "", false
	}
	abs := path.Join(preopens[i], p) // "/.." is "/": nothing is above it
	j, best := -1, -1
	for k := len(preopens) - 1; k >= 0; k-- {
		pre := preopens[k]
		n := len(pre)
		if pre == "/" {
			n = 0
		}
		if n > best && within(abs, pre) {
			j, best = k, n
		}
	}
	if j < 0 || j == i && !climbs(p) {
		return 0, "", false
	}
	rel = strings.TrimLeft(abs[best:], "/")
	if rel == "" {
		rel = "."
	}
	if strings.HasSuffix(p, "/") && rel != "." {
		rel += "/"
	}
	return j, rel, true
}

// hasDotDot reports whether p has a ".." component.
func hasDotDot(p string) bool {
	return p == ".." || strings.HasPrefix(p, "../") || strings.HasSuffix(p, "/..") || strings.Contains(p, "/../")
}

// climbs reports whether p, a relative path, leaves its folder once
// cleaned: wazero refuses exactly those.
func climbs(p string) bool {
	c := path.Clean(p)
	return c == ".." || strings.HasPrefix(c, "../")
}

// within reports whether the absolute path abs is dir or lies under it.
func within(abs, dir string) bool {
	return dir == "/" || abs == dir || strings.HasPrefix(abs, dir+"/")
}
