// Tests of what the Go code's comments point a reader to: a reason in
// words or a page of the repository, never an issue number from a list
// the repository does not hold.
package main_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// maxIssueRefs is how many "issue N" references the Go code may keep.
const maxIssueRefs = 5

// decisionsPage is the page of design decisions comments link to.
const decisionsPage = "cmd/wasigate/DECISIONS.md"

var (
	issueRef    = regexp.MustCompile(`(?i)\bissues? #?[0-9]+`)
	decisionRef = regexp.MustCompile(`DECISIONS\.md#([A-Za-z0-9_-]+)`)
	// pageRef is a path to a markdown page as comments write it, from the
	// repository's root or the file's folder, with an optional anchor.
	pageRef = regexp.MustCompile(`(?:^|[\s("'\x60])((?:\.\.?/)*(?:[\w.-]+/)*[\w-]+\.md)(?:#([\w-]+))?`)
)

// goFile is one .go file of the repository.
type goFile struct {
	rel  string // slash-separated, from the repository's root
	text string
}

// goFiles lists the repository's .go files, testdata included, without
// hidden folders and what git ignores for downloads and builds.
func goFiles(t *testing.T, root string) []goFile {
	t.Helper()
	var files []goFile
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "dist" || name == "dist.new") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files = append(files, goFile{rel: filepath.ToSlash(rel), text: string(b)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 100 {
		t.Fatalf("found %d .go files under %s; want the repository's", len(files), root)
	}
	return files
}

// comments returns the text of a Go file's comments, one string per
// comment group with its first line, so that a string literal that looks
// like a path is not taken for a link. A file that does not parse (a
// deliberately broken guest) is read line by line from each "//".
func comments(f goFile) []lineText {
	fset := token.NewFileSet()
	af, err := parser.ParseFile(fset, f.rel, f.text, parser.ParseComments|parser.SkipObjectResolution)
	var out []lineText
	if err != nil {
		for i, line := range strings.Split(f.text, "\n") {
			if _, c, ok := strings.Cut(line, "//"); ok {
				out = append(out, lineText{i + 1, c})
			}
		}
		return out
	}
	for _, g := range af.Comments {
		for _, c := range g.List {
			out = append(out, lineText{fset.Position(c.Pos()).Line, c.Text})
		}
	}
	return out
}

type lineText struct {
	line int
	text string
}

// TestIssueReferences: the code says why, or links a named decision,
// instead of pointing to "issue N": a reader of the repository has no
// issue list. A handful may stay; more fail the test, naming each place.
func TestIssueReferences(t *testing.T) {
	var found []string
	for _, f := range goFiles(t, repoRoot(t)) {
		for i, line := range strings.Split(f.text, "\n") {
			for _, m := range issueRef.FindAllString(line, -1) {
				found = append(found, f.rel+":"+strconv.Itoa(i+1)+": "+m)
			}
		}
	}
	if len(found) > maxIssueRefs {
		t.Errorf("%d references to issue numbers; want at most %d. Write the reason, or link a section of %s:\n%s",
			len(found), maxIssueRefs, decisionsPage, strings.Join(found, "\n"))
	}
}

// TestDecisionAnchors: every section of DECISIONS.md a Go comment links
// to exists, under the anchor GitHub gives its heading.
func TestDecisionAnchors(t *testing.T) {
	root := repoRoot(t)
	page, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(decisionsPage)))
	if err != nil {
		t.Fatal(err)
	}
	have := anchors(string(page))
	refs := 0
	for _, f := range goFiles(t, root) {
		for _, c := range comments(f) {
			for _, m := range decisionRef.FindAllStringSubmatch(c.text, -1) {
				refs++
				if !have[m[1]] {
					t.Errorf("%s:%d: no section #%s in %s", f.rel, c.line, m[1], decisionsPage)
				}
			}
		}
	}
	if refs < 10 {
		t.Errorf("found %d links to %s in Go comments; want the decisions the code relies on linked", refs, decisionsPage)
	}
}

// TestCommentLinksResolve: a markdown page a Go comment names
// (wasi/README.md#snapshots) is a file of the repository, from its root or
// the comment's folder, and its anchor a heading of that page: README
// sections move, and a comment must not be left pointing at nothing.
func TestCommentLinksResolve(t *testing.T) {
	root := repoRoot(t)
	pages := map[string]map[string]bool{}
	checked := 0
	for _, f := range goFiles(t, root) {
		for _, c := range comments(f) {
			for _, m := range pageRef.FindAllStringSubmatch(c.text, -1) {
				path, anchor := m[1], m[2]
				var dest string
				for _, cand := range []string{
					filepath.Join(root, filepath.FromSlash(path)),
					filepath.Join(root, filepath.Dir(filepath.FromSlash(f.rel)), filepath.FromSlash(path)),
				} {
					if _, err := os.Stat(cand); err == nil {
						dest = cand
						break
					}
				}
				checked++
				if dest == "" {
					t.Errorf("%s:%d: %s is no file of the repository (from its root or %s)", f.rel, c.line, path, filepath.Dir(f.rel))
					continue
				}
				if anchor == "" {
					continue
				}
				if pages[dest] == nil {
					b, err := os.ReadFile(dest)
					if err != nil {
						t.Fatal(err)
					}
					pages[dest] = anchors(string(b))
				}
				if !pages[dest][anchor] {
					t.Errorf("%s:%d: %s has no heading #%s", f.rel, c.line, path, anchor)
				}
			}
		}
	}
	if checked == 0 {
		t.Error("found no page named in a Go comment; want the links to DECISIONS.md and the reference pages")
	}
}

// maxFileLines bounds a non-test file of the server, so that each stays
// one responsibility a reader takes in at once.
const maxFileLines = 450

// TestFileLength: every non-test .go file of the server's packages (not
// samples or test guests) is at most maxFileLines lines.
func TestFileLength(t *testing.T) {
	for _, f := range goFiles(t, repoRoot(t)) {
		if strings.HasSuffix(f.rel, "_test.go") || strings.HasPrefix(f.rel, "samples/") || strings.Contains(f.rel, "testdata/") {
			continue
		}
		if n := strings.Count(f.text, "\n"); n > maxFileLines {
			t.Errorf("%s has %d lines; want at most %d: split it by responsibility", f.rel, n, maxFileLines)
		}
	}
}
