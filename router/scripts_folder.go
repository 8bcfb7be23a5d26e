package router

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"path/filepath"
	"strings"

	"github.com/wasigate/wasigate/host"
)

// DefaultScriptIndex is what a scripts folder request (/s/, /s/blog/) runs,
// the first entry found winning, as Apache's DirectoryIndex. index.html is
// served only with static = true (issue 15).
var DefaultScriptIndex = []string{"index.py", "index.rb", "index.go", "index.c", "index.rs", "index.wat", "index.wasm", "index.html"}

// sourceNames are files of a scripts folder that are sources without being
// scripts themselves: never served as files.
var sourceNames = map[string]bool{"go.mod": true, "go.sum": true, "go.work": true, "go.work.sum": true}

// fileKeyProblems says what is wrong with a route's index, static and
// sendfile keys (issue 15).
func (r *Route) fileKeyProblems() []string {
	var out []string
	if r.Scripts == "" && (r.IndexFiles != nil || r.Static) {
		out = append(out, "index and static apply to a scripts route only")
	}
	if r.Sendfile && len(r.Volumes) == 0 {
		out = append(out, "sendfile needs a volume: it sends files of the route's volumes only")
	}
	for _, n := range r.IndexFiles {
		if n == "" || n[0] == '.' || strings.ContainsAny(n, "/\\\x00") {
			out = append(out, fmt.Sprintf("index entry %q must be a plain file name, not hidden", n))
		}
	}
	return out
}

// index is the route's index list.
func (s *scriptsHandler) index() []string {
	if s.rt.IndexFiles != nil {
		return s.rt.IndexFiles
	}
	return DefaultScriptIndex
}

// folderRequest handles a request that names no script: the folder itself
// without its slash (301 to it, as Apache does), a folder (its index), or,
// with static = true, a file. It reports the script to run for an index,
// or "" when it answered the request itself.
func (s *scriptsHandler) folderRequest(w http.ResponseWriter, r *http.Request, rest, rawRest string) string {
	if r.URL.Path == s.prefix {
		redirectSlash(w, r)
		return ""
	}
	if strings.Contains(strings.ToLower(rawRest), "%2f") || strings.Contains(strings.ToLower(rawRest), "%5c") {
		s.notFound(w, r) // an encoded slash would make a name a path
		return ""
	}
	folder := strings.TrimSuffix(rest, "/")
	if !cleanRel(folder) {
		s.notFound(w, r)
		return ""
	}
	if folder == "" || s.isFolder(folder) {
		if !strings.HasSuffix(r.URL.Path, "/") {
			redirectSlash(w, r)
			return ""
		}
		for _, name := range s.index() {
			rel := path.Join(folder, name)
			if s.kindOf(rel) != "" {
				return rel
			}
			if s.rt.Static && s.serveStatic(w, r, rel) {
				return ""
			}
		}
		s.notFound(w, r)
		return ""
	}
	if s.rt.Static && s.serveStatic(w, r, folder) {
		return ""
	}
	s.notFound(w, r)
	return ""
}

// redirectSlash answers 301 to the request's path with a slash added.
func redirectSlash(w http.ResponseWriter, r *http.Request) {
	to := r.URL.EscapedPath() + "/"
	if r.URL.RawQuery != "" {
		to += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, to, http.StatusMovedPermanently)
}

func (s *scriptsHandler) notFound(w http.ResponseWriter, r *http.Request) {
	host.InfoFrom(r.Context()).Reason = "no script"
	http.Error(w, "404 page not found", http.StatusNotFound)
}

// cleanRel reports whether rel ("" or a/b/c) has no hidden, empty, dot or
// dot-dot segment and no backslash or NUL: names a request may reach.
func cleanRel(rel string) bool {
	if rel == "" {
		return true
	}
	for _, seg := range strings.Split(rel, "/") {
		if seg == "" || seg[0] == '.' || strings.ContainsAny(seg, "\\\x00") {
			return false
		}
	}
	return true
}

// isFolder reports whether rel is a folder inside the scripts folder,
// looked up through the folder's os.Root so that no link leads out.
func (s *scriptsHandler) isFolder(rel string) bool {
	st, err := s.root.Stat(rel)
	return err == nil && st.IsDir()
}

// errSource refuses a file of the folder that is a script or a source.
var errSource = errors.New("a script's source is never served as a file")

// serveStatic serves rel as a file with net/http's semantics (Content-Type,
// ETag and Last-Modified, Range, HEAD, 304). It reports false, having
// written nothing, when rel is no servable file. Scripts and their
// sources are never served, nor is anything under a script folder (a Go
// program), whatever static says; the os.Root keeps links inside.
func (s *scriptsHandler) serveStatic(w http.ResponseWriter, r *http.Request, rel string) bool {
	if err := s.servable(rel); err != nil {
		return false
	}
	f, err := s.root.Open(rel)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		host.InfoFrom(r.Context()).Reason = "method"
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return true
	}
	info := host.InfoFrom(r.Context())
	info.Module = path.Join(s.rt.Scripts, rel)
	// A validator from size and time, as Apache's default FileETag.
	w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, st.Size(), st.ModTime().UnixNano()))
	http.ServeContent(w, r, path.Base(rel), st.ModTime(), f)
	return true
}

// servable checks rel and each folder above it: none may be a script (a
// Go folder, a source a toolchain builds, an interpreter's script) or a
// build file.
func (s *scriptsHandler) servable(rel string) error {
	if rel == "" || !cleanRel(rel) {
		return fs.ErrNotExist
	}
	segs := strings.Split(rel, "/")
	for i := range segs {
		p := strings.Join(segs[:i+1], "/")
		if s.kindOf(p) != "" {
			return errSource
		}
	}
	leaf := segs[len(segs)-1]
	if _, ok := s.interps[filepath.Ext(leaf)]; ok || sourceNames[leaf] || s.loader.SourceKind(filepath.Join(s.dir, rel)) != "" {
		return errSource
	}
	return nil
}

// scriptEnv adds SCRIPT_FILENAME and DOCUMENT_ROOT to a route's env: the
// guest paths of the script and of the folder, where an interpreter opens
// them (fcgiwrap and php-cgi want the first; Apache sets both).
func scriptEnv(env []string, entry string) []string {
	out := make([]string, 0, len(env)+2)
	out = append(out, env...)
	return append(out, "DOCUMENT_ROOT="+ScriptsGuestDir, "SCRIPT_FILENAME="+path.Join(ScriptsGuestDir, entry))
}
