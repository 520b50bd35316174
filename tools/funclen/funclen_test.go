package funclen

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// maxLines is the longest a function may be, counted from its func line to its closing brace.
const maxLines = 80

// TestNoLongFunctions fails on any function over maxLines lines in the module's non-test code.
// The simulators (packages named *sim or *test, and internal/simkit) and tools/ are exempt: they
// are fixtures and one-off programs, not the service.
func TestNoLongFunctions(t *testing.T) {
	root := moduleRoot(t)
	long, err := longFunctions(root, maxLines)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range long {
		t.Errorf("%s: %d lines (at most %d): split it by concern", f.where, f.lines, maxLines)
	}
}

// TestLongFunctionsFindsOne proves the walk sees a long function, so a silent walk over nothing
// cannot pass TestNoLongFunctions.
func TestLongFunctionsFindsOne(t *testing.T) {
	dir := t.TempDir()
	body := "package x\n\nfunc long() {\n" + strings.Repeat("\t_ = 1\n", maxLines-1) + "}\n\nfunc short() {\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x_test.go"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	long, err := longFunctions(dir, maxLines)
	if err != nil {
		t.Fatal(err)
	}
	if len(long) != 1 || long[0].lines != maxLines+1 || !strings.HasSuffix(long[0].where, "x.go:3 long") {
		t.Fatalf("longFunctions = %+v, want only x.go:3 long with %d lines", long, maxLines+1)
	}
}

type longFunc struct {
	where string // file:line name, the path relative to the root
	lines int
}

// longFunctions lists the functions over max lines in root's non-test .go files, longest first.
func longFunctions(root string, max int) ([]longFunc, error) {
	var out []longFunc
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if path != root && exempt(rel, path) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parse %s: %w", rel, err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			start, end := fset.Position(fn.Pos()).Line, fset.Position(fn.End()).Line
			if n := end - start + 1; n > max {
				out = append(out, longFunc{where: fmt.Sprintf("%s:%d %s", rel, start, funcName(fn)), lines: n})
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].lines != out[j].lines {
			return out[i].lines > out[j].lines
		}
		return out[i].where < out[j].where
	})
	return out, err
}

// exempt says whether a folder is skipped: other modules, testdata, hidden folders, tools/, and
// the simulators.
func exempt(rel, path string) bool {
	base := filepath.Base(rel)
	switch {
	case base == "testdata", strings.HasPrefix(base, "."), strings.HasPrefix(base, "_"):
		return true
	case rel == "tools", rel == "internal/simkit":
		return true
	case strings.HasSuffix(base, "sim"), strings.HasSuffix(base, "test"):
		return true
	}
	_, err := os.Stat(filepath.Join(path, "go.mod"))
	return err == nil // a nested module (deploy/kubernetes) has its own rules
}

func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	typ := fn.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if idx, ok := typ.(*ast.IndexExpr); ok {
		typ = idx.X
	}
	if idx, ok := typ.(*ast.IndexListExpr); ok {
		typ = idx.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}

// moduleRoot is the folder holding the module's go.mod, two levels up from this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}
