package toolchain

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A Go program served from a snapshot ran its package main's init in the
// snapshot, with an empty environment: a package-level variable such as
// `var base = os.Getenv("SCRIPT_NAME")` would hold "" in every request.
// goInitEnv finds such reads in the program's own package before it is
// built as a reactor; a program that has one is built with _start, as
// before, and the reason names the place. Reads in other packages' init are
// not found (wasi/README.md#snapshots).

// maxInitEnvSource bounds the source goInitEnv parses in the server's
// process (the source is a script author's, parsed outside the build
// sandbox); a larger package main is built with _start rather than
// parsed.
const maxInitEnvSource = 1 << 20

// envFuncs are the calls that read the environment.
var envFuncs = map[string]map[string]bool{
	"os":      {"Getenv": true, "LookupEnv": true, "Environ": true, "ExpandEnv": true},
	"syscall": {"Getenv": true, "Environ": true},
}

// goInitEnv returns where package main's init (package-level variables'
// initialisers and init functions, and the package's functions they call)
// reads the environment, as "file:line: os.Getenv", or "" when it does
// not. files are the package's .go files as the build sees them.
func goInitEnv(files []string) (string, error) {
	fset := token.NewFileSet()
	var parsed []*ast.File
	total := int64(0)
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		if total += st.Size(); total > maxInitEnvSource {
			return fmt.Sprintf("package main is larger than %d MiB, not checked for reads of the environment at init", maxInitEnvSource>>20), nil
		}
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return "", nil // the compiler reports it
		}
		parsed = append(parsed, af)
	}
	// reads: the first environment read in each function of the package,
	// direct or through another function of the package.
	reads := map[string]string{}
	calls := map[string][]string{}
	for _, af := range parsed {
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name != "init" && fd.Body != nil {
				if at := envCall(fset, af, fd.Body); at != "" {
					reads[fd.Name.Name] = at
				}
				calls[fd.Name.Name] = calledNames(fd.Body)
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for fn, callees := range calls {
			if reads[fn] != "" {
				continue
			}
			for _, c := range callees {
				if at := reads[c]; at != "" {
					reads[fn], changed = at, true
					break
				}
			}
		}
	}
	var found []string
	check := func(n ast.Node, af *ast.File, what string) {
		if at := envCall(fset, af, n); at != "" {
			found = append(found, at+" ("+what+")")
			return
		}
		for _, c := range calledNames(n) {
			if at := reads[c]; at != "" {
				found = append(found, at+" (called by "+what+")")
				return
			}
		}
	}
	for _, af := range parsed {
		for _, d := range af.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				if d.Tok == token.VAR {
					check(d, af, "a package-level variable")
				}
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.Name == "init" && d.Body != nil {
					check(d.Body, af, "func init")
				}
			}
		}
	}
	if len(found) == 0 {
		return "", nil
	}
	sort.Strings(found)
	return "package main reads the environment at init, which a snapshot would freeze empty: " + found[0], nil
}

// envCall returns the place of the first call in n to an environment
// read, through the file's import names, or "".
func envCall(fset *token.FileSet, af *ast.File, n ast.Node) string {
	names := map[string]string{} // local name -> import path
	for _, im := range af.Imports {
		path := strings.Trim(im.Path.Value, `"`)
		if envFuncs[path] == nil {
			continue
		}
		name := path
		if im.Name != nil {
			name = im.Name.Name
		}
		names[name] = path
	}
	at := ""
	inspectRun(n, func(n ast.Node) bool {
		if at != "" {
			return false
		}
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && envFuncs[names[id.Name]][sel.Sel.Name] {
			p := fset.Position(sel.Pos())
			at = fmt.Sprintf("%s:%d: %s.%s", filepath.Base(p.Filename), p.Line, id.Name, sel.Sel.Name)
		}
		return true
	})
	return at
}

// calledNames lists the plain identifiers n calls.
func calledNames(n ast.Node) []string {
	var out []string
	inspectRun(n, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if id, ok := ast.Unparen(c.Fun).(*ast.Ident); ok {
				out = append(out, id.Name)
			}
		}
		return true
	})
	return out
}

// inspectRun is ast.Inspect over the code that runs when n runs: the body
// of a function literal only where the literal is called there and then
// (`var x = func() T { ... }()`), not one kept for later (a handler).
func inspectRun(n ast.Node, f func(ast.Node) bool) {
	called := map[*ast.FuncLit]bool{}
	ast.Inspect(n, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if fl, ok := ast.Unparen(c.Fun).(*ast.FuncLit); ok {
				called[fl] = true
			}
		}
		return true
	})
	ast.Inspect(n, func(n ast.Node) bool {
		if fl, ok := n.(*ast.FuncLit); ok && !called[fl] {
			return false
		}
		return f(n)
	})
}

// goPackageFiles lists the .go files `go build` compiles for src (a file,
// or a folder's files for wasip1/wasm, tests left out).
func goPackageFiles(src string) ([]string, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{src}, nil
	}
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled = "wasip1", "wasm", false
	entries, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if ok, err := ctx.MatchFile(src, name); err == nil && ok {
			files = append(files, filepath.Join(src, name))
		}
	}
	return files, nil
}
