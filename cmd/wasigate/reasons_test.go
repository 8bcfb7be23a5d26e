package main_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// reasonsPage is the page whose limits table has the `reason` column, the
// one list of failure reasons a user reads.
const reasonsPage = "README.md"

// reasonsSource declares host.Reason and its constants.
var reasonsSource = filepath.Join("..", "..", "host", "reason.go")

// TestReasonsInDocs: every host.Reason constant is in the reasons column
// of the documented limits table, and the column names no other, so the
// log's reasons, the metric's labels and the page agree.
func TestReasonsInDocs(t *testing.T) {
	declared := declaredReasons(t)
	if len(declared) < 20 {
		t.Fatalf("found %d Reason constants in %s; want the whole set", len(declared), reasonsSource)
	}
	documented := documentedReasons(t)
	for _, r := range declared {
		if !slices.Contains(documented, r) {
			t.Errorf("reason %q (host/reason.go) is not in the reasons column of %s", r, reasonsPage)
		}
	}
	for _, r := range documented {
		if !slices.Contains(declared, r) {
			t.Errorf("reason %q of %s is no host.Reason constant", r, reasonsPage)
		}
	}
}

// declaredReasons reads the values of the constants of type Reason.
func declaredReasons(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), reasonsSource, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Reason" {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s: a Reason constant that is not a string literal", reasonsSource)
				}
				s, _ := strconv.Unquote(lit.Value)
				out = append(out, s)
			}
		}
	}
	return out
}

// documentedReasons reads the code spans of the last column of the table
// whose header ends in "| `reason` |".
func documentedReasons(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(reasonsPage)
	if err != nil {
		t.Fatal(err)
	}
	code := regexp.MustCompile("`([^`]+)`")
	var out []string
	in, found := false, false
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "|") && strings.HasSuffix(line, "| `reason` |"):
			in, found = true, true
			continue
		case !in:
			continue
		case !strings.HasPrefix(line, "|"):
			in = false
			continue
		case strings.HasPrefix(line, "|---"):
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for _, m := range code.FindAllStringSubmatch(cells[len(cells)-1], -1) {
			if !slices.Contains(out, m[1]) {
				out = append(out, m[1])
			}
		}
	}
	if !found {
		t.Fatalf("%s has no table with a `reason` column", reasonsPage)
	}
	return out
}
