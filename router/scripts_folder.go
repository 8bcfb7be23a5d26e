package router

import (
	"errors"
	"fmt"
	"net/http"
	"path"
	"path/filepath"
	"strings"

	"github.com/wasigate/wasigate/host"
)

// DefaultScriptIndex is what a scripts folder request (/s/, /s/blog/) runs,
// the first entry found winning, as Apache's DirectoryIndex. index.html is
// served only with static = true, so that a folder of sources never leaks
// them.
var DefaultScriptIndex = []string{"index.py", "index.rb", "index.go", "index.c", "index.rs", "index.wat", "index.wasm", "index.html"}

// sourceNames are files of a scripts folder that are sources without being
// scripts themselves: never served as files.
var sourceNames = map[string]bool{"go.mod": true, "go.sum": true, "go.work": true, "go.work.sum": true}

// fileKeyProblems says what is wrong with a route's index, static and
// sendfile keys, so that a mistake fails at startup naming the route.
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
		// An index refused as a file (index.php with no interpreter
		// for it) lets the next one answer; when none does, the first
		// refusal is the 404's reason.
		var first *refusal
		for _, name := range s.index() {
			rel := path.Join(folder, name)
			if s.kindOf(rel) != "" {
				return rel
			}
			if !s.rt.Static {
				continue
			}
			done, ref := s.serveStatic(w, r, rel)
			if done {
				return ""
			}
			if first == nil && ref != nil {
				first = ref
			}
		}
		if first != nil {
			s.refused(w, r, folder, first)
			return ""
		}
		s.notFound(w, r)
		return ""
	}
	if s.rt.Static {
		done, ref := s.serveStatic(w, r, folder)
		if done {
			return ""
		}
		if ref != nil {
			s.refused(w, r, folder, ref)
			return ""
		}
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
	host.InfoFrom(r.Context()).Reason = host.ReasonNoScript
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

// Why a static file is refused, each a 404 (what Apache answers for a
// file it denies, so that a probe learns nothing) with one event.
var (
	errSource  = errors.New("a script or a source is never served as a file")
	errLinkOut = errors.New("a symbolic link leading out of the folder is not followed")
)

// refusal is a static file refused, with the reason its event carries.
type refusal struct {
	reason host.Reason
	err    error
}

// sourceExts are extensions of scripts and sources: never served as files,
// whether or not an interpreter is configured for them, since a server
// elsewhere (or this one, once one is) runs them and their text may hold
// what the script keeps to itself. The toolchains' own kinds (.go, .c,
// .rs, .wat, .wasm) come from the loader, configured interpreters from
// the route; these are the rest that CGI servers run or include.
var sourceExts = map[string]bool{
	".py": true, ".pyc": true, ".wsgi": true, ".rb": true, ".php": true, ".phtml": true,
	".pl": true, ".pm": true, ".sh": true, ".cgi": true, ".h": true,
}

// serveStatic serves rel as a file with net/http's semantics (Content-Type,
// ETag and Last-Modified, Range, HEAD, 304). It reports whether it
// answered; when it did not, having written nothing, the refusal says why
// (nil: there is no such file). Scripts and their sources are never
// served, nor is anything under a script folder (a Go program), whatever
// static says, nor anything but a regular file.
func (s *scriptsHandler) serveStatic(w http.ResponseWriter, r *http.Request, rel string) (bool, *refusal) {
	target, ref := s.servable(rel)
	if ref != nil || target == "" {
		return false, ref
	}
	f, err := openRegular(s.root.get(), target)
	if errors.Is(err, errSpecialFile) {
		return false, &refusal{host.ReasonSpecial, err}
	}
	if err != nil {
		return false, nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		host.InfoFrom(r.Context()).Reason = host.ReasonMethod
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return true, nil
	}
	info := host.InfoFrom(r.Context())
	info.Module = path.Join(s.rt.Scripts, rel)
	// A validator from size and time, as Apache's default FileETag.
	w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, st.Size(), st.ModTime().UnixNano()))
	http.ServeContent(w, r, path.Base(rel), st.ModTime(), f)
	return true, nil
}

// refused answers a static file refused: 404, and the reason and error on
// the request's event.
func (s *scriptsHandler) refused(w http.ResponseWriter, r *http.Request, rel string, ref *refusal) {
	info := host.InfoFrom(r.Context())
	info.Module = path.Join(s.rt.Scripts, rel)
	info.Reason, info.Err = ref.reason, ref.err
	http.Error(w, "404 page not found", http.StatusNotFound)
}

// servable decides on rel and on what it resolves to: the name of the
// folder's file that would be opened (no link left in it), or "" when
// there is none, or the refusal. A link is followed here, once, so that
// the file it leads to is judged by its own name: alias.txt -> state.go
// is a source, and a link to a hidden name or out of the folder is not
// served either.
func (s *scriptsHandler) servable(rel string) (string, *refusal) {
	if rel == "" || !cleanRel(rel) {
		return "", nil
	}
	if err := s.notSource(rel); err != nil {
		return "", &refusal{host.ReasonSource, fmt.Errorf("%s: %w", rel, err)}
	}
	full, err := filepath.EvalSymlinks(filepath.Join(s.dir, filepath.FromSlash(rel)))
	if err != nil {
		return "", nil // missing, or a dangling link
	}
	to, err := filepath.Rel(s.dir, full)
	if err != nil || to == ".." || strings.HasPrefix(to, ".."+string(filepath.Separator)) {
		return "", &refusal{host.ReasonLink, fmt.Errorf("%s: %w", rel, errLinkOut)}
	}
	to = filepath.ToSlash(to)
	if to == rel {
		return to, nil
	}
	if !cleanRel(to) || to == "." {
		return "", &refusal{host.ReasonLink, fmt.Errorf("%s leads to %s: %w", rel, to, errSource)}
	}
	if err := s.notSource(to); err != nil {
		return "", &refusal{host.ReasonSource, fmt.Errorf("%s leads to %s: %w", rel, to, err)}
	}
	return to, nil
}

// notSource checks rel by its names: neither rel nor a folder above it
// may be a script (a Go folder, a source a toolchain builds, an
// interpreter's script) or a build file, and its extension may be no
// script's or source's, in any case.
func (s *scriptsHandler) notSource(rel string) error {
	segs := strings.Split(rel, "/")
	for i := range segs {
		if s.kindOf(strings.Join(segs[:i+1], "/")) != "" {
			return errSource
		}
	}
	leaf := segs[len(segs)-1]
	ext := strings.ToLower(filepath.Ext(leaf))
	if sourceNames[leaf] || sourceExts[ext] {
		return errSource
	}
	for e := range s.interps {
		if strings.ToLower(e) == ext {
			return errSource
		}
	}
	// The loader knows its kinds by extension (and a Go folder by its
	// files): ask about the name with its extension in lower case.
	if s.loader.SourceKind(filepath.Join(s.dir, filepath.FromSlash(rel))) != "" ||
		(ext != "" && s.loader.SourceKind(filepath.Join(s.dir, "x"+ext)) != "") {
		return errSource
	}
	return nil
}

// scriptEnv adds SCRIPT_FILENAME, DOCUMENT_ROOT and PWD to a route's env:
// the guest paths of the script, of the scripts folder and of the script's
// own folder, where an interpreter opens them (fcgiwrap and php-cgi want
// the first; Apache sets both).
func scriptEnv(env []string, entry string) []string {
	out := make([]string, 0, len(env)+3)
	out = append(out, env...)
	file := path.Join(ScriptsGuestDir, entry)
	// PWD is the script's folder: a CGI server starts a script there, and
	// WASI has no working directory of its own. Go's runtime and the
	// Python driver take theirs from PWD.
	return append(out, "DOCUMENT_ROOT="+ScriptsGuestDir, "SCRIPT_FILENAME="+file, "PWD="+path.Dir(file))
}
