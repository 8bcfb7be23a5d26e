package router

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// interpretedExts are extensions of scripts some interpreter runs, by the
// interpreter a user would install: a scripts folder holding them with no
// [[interpreter]] for them is a configuration mistake, not files to hide.
var interpretedExts = map[string]string{".py": "python3", ".rb": "ruby", ".php": "php", ".pl": "perl"}

// NoInterpreterError is the answer for a script of an extension no
// [[interpreter]] serves.
type NoInterpreterError struct {
	Ext, Name string
}

func (e *NoInterpreterError) Error() string {
	return fmt.Sprintf("no interpreter for %s scripts (%s): add an [[interpreter]] with ext = %q and a %s module", e.Ext, e.Name, e.Ext, interpretedExts[e.Ext])
}

// maxScanEntries bounds the start-up walk of a scripts folder.
const maxScanEntries = 10000

// unservedScripts reports the scripts of the folder, subfolders included,
// whose extension no interpreter serves (at most maxScanEntries entries
// are looked at; hidden ones and folders that are programs are skipped).
func (s *scriptsHandler) unservedScripts() error {
	byExt := map[string][]string{}
	seen := 0
	_ = filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || seen >= maxScanEntries {
			return filepath.SkipDir
		}
		seen++
		rel, _ := filepath.Rel(s.dir, p)
		if rel != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if rel != "." && s.loader.SourceKind(p) != "" {
				return filepath.SkipDir // a program's folder (Go): its files are sources
			}
			return nil
		}
		ext := filepath.Ext(d.Name())
		if _, known := interpretedExts[ext]; known && s.interps[ext] == nil && d.Type().IsRegular() {
			byExt[ext] = append(byExt[ext], filepath.ToSlash(rel))
		}
		return nil
	})
	var errs []error
	for _, ext := range sortedKeys(byExt) {
		names := byExt[ext]
		sort.Strings(names)
		if len(names) > 3 {
			names = append(names[:3], fmt.Sprintf("and %d more", len(byExt[ext])-3))
		}
		errs = append(errs, fmt.Errorf("scripts folder %s: %w", s.rt.Scripts, &NoInterpreterError{Ext: ext, Name: strings.Join(names, ", ")}))
	}
	return errors.Join(errs...)
}

// locate finds the script a request's path (after the route's prefix)
// names, as Apache's ScriptAlias does: folders first, then the first
// segment that is a script, by its name or its name without extension;
// what follows is PATH_INFO. It returns the name as requested (for
// SCRIPT_NAME) and the folder's entry. A file of an interpreted extension
// that no interpreter serves is a *NoInterpreterError.
func (s *scriptsHandler) locate(rest string) (name, entry string, err error) {
	segs := strings.Split(rest, "/")
	dir := ""
	for i, seg := range segs {
		if i == len(segs)-1 && seg == "" {
			break // a folder's own request: its index (folderRequest)
		}
		rel := path.Join(dir, seg)
		if !cleanRel(rel) {
			return "", "", errNoScript
		}
		// kindOf keeps a link of the top folder inside; under it, a
		// folder on the way could be a link out, which inside catches
		// (isFolder looks through the folder's os.Root).
		if s.kindOf(rel) != "" {
			if dir != "" && !s.inside(rel) {
				return "", "", errNoScript
			}
			return rel, rel, nil
		}
		if s.isFolder(rel) {
			dir = rel
			continue
		}
		if entry, err := s.resolveIn(dir, seg); err == nil || errors.Is(err, errAmbiguous) {
			if err == nil && dir != "" && !s.inside(entry) {
				return "", "", errNoScript
			}
			return rel, entry, err
		}
		if ext := filepath.Ext(seg); interpretedExts[ext] != "" && s.interps[ext] == nil {
			if st, err := s.root.Stat(rel); err == nil && st.Mode().IsRegular() {
				return "", "", &NoInterpreterError{Ext: ext, Name: rel}
			}
		}
		return "", "", errNoScript
	}
	return "", "", errNoScript
}

// inside reports whether rel, resolved through every symbolic link, is
// still in the scripts folder.
func (s *scriptsHandler) inside(rel string) bool {
	target, err := filepath.EvalSymlinks(filepath.Join(s.dir, filepath.FromSlash(rel)))
	if err != nil {
		return false
	}
	r, err := filepath.Rel(s.dir, target)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator))
}

// resolveIn is resolve for a name in the folder dir ("" for the top):
// the one script whose name without its extension is name.
func (s *scriptsHandler) resolveIn(dir, name string) (string, error) {
	if dir == "" {
		return s.resolve(name)
	}
	if name == "" || name[0] == '.' || strings.ContainsAny(name, "/\\\x00") {
		return "", errNoScript
	}
	entries, err := os.ReadDir(filepath.Join(s.dir, filepath.FromSlash(dir)))
	if err != nil {
		return "", errNoScript
	}
	var matches []string
	for _, e := range entries {
		n := e.Name()
		if strings.TrimSuffix(n, filepath.Ext(n)) == name && n != name && s.kindOf(path.Join(dir, n)) != "" {
			matches = append(matches, path.Join(dir, n))
		}
	}
	switch len(matches) {
	case 0:
		return "", errNoScript
	case 1:
		return matches[0], nil
	}
	sort.Strings(matches)
	return "", fmt.Errorf("%w: %q matches %s; request one with its extension", errAmbiguous, path.Join(dir, name), strings.Join(matches, ", "))
}

// firstSegments is p's first n slash-separated segments.
func firstSegments(p string, n int) string {
	segs := strings.SplitN(p, "/", n+1)
	return strings.Join(segs[:min(n, len(segs))], "/")
}

// shebangExts maps the program a "#!" line names to the extension of the
// interpreter that runs it.
var shebangExts = map[string]string{"python3": ".py", "python": ".py", "ruby": ".rb"}

// interpFor is the interpreter that runs the folder's entry rel: by its
// extension, or, for a .cgi or extensionless file, by its "#!" line.
func (s *scriptsHandler) interpFor(rel string) (*interpreter, bool) {
	ext := filepath.Ext(rel)
	if in, ok := s.interps[ext]; ok {
		return in, true
	}
	if ext != ".cgi" && ext != "" {
		return nil, false
	}
	in := s.interps[shebangExt(filepath.Join(s.dir, filepath.FromSlash(rel)))]
	return in, in != nil
}

// shebangExt reads the "#!" line of file p and returns the extension of
// the interpreter it names ("#!/usr/bin/python3", "#!/usr/bin/env ruby",
// "#!/usr/bin/python3.11 -u"), or "". The line's options are not passed:
// the interpreter's args are the configuration's.
func shebangExt(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, _ := io.ReadFull(f, buf)
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	rest, ok := strings.CutPrefix(strings.TrimSuffix(line, "\r"), "#!")
	if !ok {
		return ""
	}
	words := strings.Fields(rest)
	if len(words) > 1 && path.Base(words[0]) == "env" {
		words = words[1:]
	}
	if len(words) == 0 {
		return ""
	}
	prog := path.Base(words[0])
	if base, _, ok := strings.Cut(prog, "."); ok && strings.HasPrefix(prog, "python3.") {
		prog = base // python3.11
	}
	return shebangExts[prog]
}

// resolve maps a requested name to an entry of the folder: the entry of
// that name if it is a script, else the one script whose name without
// its extension is name. Hidden entries, names with separators and
// entries that lead out of the folder are never served.
func (s *scriptsHandler) resolve(name string) (string, error) {
	if name == "" || name[0] == '.' || strings.ContainsAny(name, "/\\\x00") {
		return "", errNoScript
	}
	if s.kindOf(name) != "" {
		return name, nil
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return "", err
	}
	var matches []string
	for _, e := range entries {
		n := e.Name()
		if strings.TrimSuffix(n, filepath.Ext(n)) == name && n != name && s.kindOf(n) != "" {
			matches = append(matches, n)
		}
	}
	switch len(matches) {
	case 0:
		return "", errNoScript
	case 1:
		return matches[0], nil
	}
	// Serving either would depend on what else is in the folder: refuse
	// (404) and tell the operator which names clash.
	sort.Strings(matches)
	return "", fmt.Errorf("%w: %q matches %s; request one with its extension", errAmbiguous, name, strings.Join(matches, ", "))
}

// kindOf returns what the folder's entry name is as a script: a build kind,
// an interpreter's ext, or "" when it is not one (or leads out of the
// folder through a symbolic link).
func (s *scriptsHandler) kindOf(name string) string {
	if name == "" || name[0] == '.' {
		return ""
	}
	p := filepath.Join(s.dir, name)
	st, err := os.Lstat(p)
	if err != nil {
		return ""
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return ""
		}
		if rel, err := filepath.Rel(s.dir, target); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return ""
		}
		if st, err = os.Stat(target); err != nil {
			return ""
		}
	}
	if st.IsDir() {
		return s.loader.SourceKind(p)
	}
	if !st.Mode().IsRegular() {
		return ""
	}
	ext := filepath.Ext(name)
	if _, ok := s.interps[ext]; ok {
		return ext
	}
	if _, ok := s.interps[pythonExt]; ok && ext == WSGIExt {
		return ext
	}
	if s.loader.SourceKind(p) != "" {
		return ext
	}
	if in, ok := s.interpFor(name); ok {
		return in.Ext // a .cgi or extensionless file with a "#!" line
	}
	return ""
}
