// Tests of the documentation as a reader meets it: the front door stays
// short, every configuration key the model accepts is in the command's
// manual, and every relative link of every page leads somewhere.
package main_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wasigate/wasigate/router"
)

// repoRoot is the repository's root, two folders above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

func TestREADMEFrontDoorLength(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n > 300 {
		t.Errorf("README.md has %d lines; want at most 300 (reference belongs in the pages beside the code)", n)
	}
}

// configKeys walks a configuration type and returns every TOML key it
// accepts, as dotted paths from the top of the file. Embedded structs
// without a tag put their keys at their parent's level, as the decoder does.
func configKeys(t reflect.Type, prefix string, seen map[reflect.Type]bool, out *[]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return
	}
	seen[t] = true
	defer delete(seen, t)
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			if f.Anonymous {
				configKeys(f.Type, prefix, seen, out)
			}
			continue
		}
		*out = append(*out, prefix+tag)
		configKeys(f.Type, prefix+tag+".", seen, out)
	}
}

// documentedKeys returns the key names a manual documents: every name
// written in backticks in the first cell of a table row, split at dots,
// brackets and spaces (`[tenant.limits]` documents tenant and limits).
func documentedKeys(manual string) map[string]bool {
	keys := map[string]bool{}
	span := regexp.MustCompile("`([^`]*)`")
	for _, line := range strings.Split(manual, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range span.FindAllStringSubmatch(cells[1], -1) {
			for _, w := range strings.FieldsFunc(m[1], func(r rune) bool {
				return strings.ContainsRune("[]. =", r)
			}) {
				keys[w] = true
			}
		}
	}
	return keys
}

func TestREADMEConfigKeysInManual(t *testing.T) {
	manual, err := os.ReadFile(filepath.Join(repoRoot(t), "cmd", "wasigate", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	configKeys(reflect.TypeFor[router.Config](), "", map[reflect.Type]bool{}, &keys)
	if len(keys) < 50 {
		t.Fatalf("found %d config keys in router.Config; want the whole model (at least 50): is the walk broken?", len(keys))
	}
	documented := documentedKeys(string(manual))
	var missing []string
	for _, k := range keys {
		name := k[strings.LastIndex(k, ".")+1:]
		if !documented[name] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Errorf("config keys not in a table of cmd/wasigate/README.md (first cell, in backticks, with its default): %s",
			strings.Join(missing, ", "))
	}
}

func TestDocsConfigKeysWalk(t *testing.T) {
	var keys []string
	configKeys(reflect.TypeFor[router.Config](), "", map[reflect.Type]bool{}, &keys)
	for _, want := range []string{"listen", "defaults.timeout", "defaults.allowed_hosts", "server.deadline",
		"route.volumes.allow_root", "tenant.limits.rate", "tenant.route.wsgi", "interpreter.preload", "tls_cert"} {
		if !slices.Contains(keys, want) {
			t.Errorf("config key walk: got no %q; want every key of router.Config (got %v)", want, keys)
		}
	}
}

// markdownFiles lists the repository's *.md files, without what git ignores
// for downloads and builds (node_modules, dist) and without hidden folders.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "dist" || name == "dist.new") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(name, ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

var (
	fence      = regexp.MustCompile("(?ms)^ {0,3}(```|~~~).*?^ {0,3}(```|~~~)[^\n]*$")
	inlineCode = regexp.MustCompile("`[^`\n]*`")
	mdLink     = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	heading    = regexp.MustCompile(`(?m)^#{1,6}[ \t]+(.+?)[ \t#]*$`)
)

// stripCode blanks fenced blocks and inline code, where a bracket is no link.
func stripCode(s string) string {
	s = fence.ReplaceAllString(s, "")
	return inlineCode.ReplaceAllString(s, "``")
}

// anchors returns the heading anchors of a page as GitHub makes them: lower
// case, punctuation dropped, spaces as hyphens, repeats numbered.
func anchors(page string) map[string]bool {
	set := map[string]bool{}
	count := map[string]int{}
	for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(page, ""), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(strings.ReplaceAll(m[1], "`", "")) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := count[a]; n > 0 {
			set[a+"-"+strconv.Itoa(n)] = true
		} else {
			set[a] = true
		}
		count[a]++
	}
	return set
}

func TestDocsLinksResolve(t *testing.T) {
	root := repoRoot(t)
	files := markdownFiles(t, root)
	if len(files) < 5 {
		t.Fatalf("found %d markdown files; want the README and its reference pages", len(files))
	}
	pages := map[string]string{}
	read := func(path string) (string, bool) {
		if s, ok := pages[path]; ok {
			return s, true
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", false
		}
		pages[path] = string(b)
		return string(b), true
	}
	links := 0
	for _, file := range files {
		text, _ := read(file)
		rel, _ := filepath.Rel(root, file)
		for _, m := range mdLink.FindAllStringSubmatch(stripCode(text), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links++
			path, anchor, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: link %q: %v; want a file of the repository", rel, target, err)
					continue
				}
			}
			if anchor == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			page, _ := read(dest)
			if !anchors(page)[anchor] {
				t.Errorf("%s: link %q: no heading #%s in %s", rel, target, anchor, filepath.Base(dest))
			}
		}
	}
	if links == 0 {
		t.Errorf("found no relative links in %d pages; want the README's map of the reference", len(files))
	}
}
