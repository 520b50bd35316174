package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const repoLock = "../../testdata/specs.lock"

// The committed lock parses, passes its checks and is in the form -update
// writes, so a rewrite changes only the values that changed.
func TestTheLockIsValidAndCanonical(t *testing.T) {
	b, err := os.ReadFile(repoLock)
	if err != nil {
		t.Fatal(err)
	}
	l, err := parseLock(b)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := l.encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(enc) != string(b) {
		t.Fatalf("testdata/specs.lock is not in the canonical form (2-space JSON, fields in the tool's order); re-encode it")
	}
	for _, f := range l.Files {
		if !strings.HasPrefix(f.URL, "https://raw.githubusercontent.com/") || f.Source.Commit == "" || !strings.Contains(f.URL, "/"+f.Source.Commit+"/") {
			t.Errorf("%s: url %s is not raw.githubusercontent.com at the pinned commit %q", f.Path, f.URL, f.Source.Commit)
		}
		if want := "/" + f.Source.Commit + "/" + f.Source.Path; !strings.HasSuffix(f.URL, want) {
			t.Errorf("%s: url %s does not end with %s", f.Path, f.URL, want)
		}
	}
}

// Each test the lock allows to skip is a top-level test of its package, so
// a rename cannot leave the allowance pointing at nothing.
func TestTheLockSkipsNameRealTests(t *testing.T) {
	l, err := loadLock(repoLock)
	if err != nil {
		t.Fatal(err)
	}
	type named struct{ pkg, test string }
	var all []named
	for _, s := range l.SpecSkips {
		all = append(all, named{s.Package, s.Test})
	}
	for _, s := range l.ProgramSkips {
		all = append(all, named{s.Package, s.Test})
	}
	if len(l.SpecSkips) == 0 || len(l.ProgramSkips) == 0 {
		t.Fatalf("the lock allows %d spec skips and %d program skips; expected some of each", len(l.SpecSkips), len(l.ProgramSkips))
	}
	for _, n := range all {
		rel, ok := strings.CutPrefix(n.pkg, modulePath+"/")
		if !ok {
			t.Errorf("%s: not a package of %s", n.pkg, modulePath)
			continue
		}
		if !hasTopLevelTest(t, filepath.Join("..", "..", filepath.FromSlash(rel)), n.test) {
			t.Errorf("%s has no top-level test %s", n.pkg, n.test)
		}
	}
}

func hasTopLevelTest(t *testing.T, dir, name string) bool {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, p := range paths {
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == name {
				return true
			}
		}
	}
	return false
}

func TestParseLockRejects(t *testing.T) {
	const sum = "b2e80f8b83b170f29702e96a69adf230702b4ec43dddab7e348a2985c707ef35"
	file := func(extra string) string {
		return `{"about":"x","files":[{"path":"a.json","source":{"origin":"https://example.com/a.json"},"url":"https://example.com/a.json","size":3,"sha256":"` + sum + `"` + extra + `}],"spec_skips":[],"program_skips":[]}`
	}
	cases := []struct{ name, lock, want string }{
		{"unknown field", file(`,"sha1":"x"`), `unknown field "sha1"`},
		{"path outside the folder", strings.Replace(file(""), `"path":"a.json"`, `"path":"../a.json"`, 1), "a.json: path: must be a clean path inside the specs folder"},
		{"absolute path", strings.Replace(file(""), `"path":"a.json"`, `"path":"/etc/a.json"`, 1), "path: must be relative to the specs folder"},
		{"bad sha256", strings.Replace(file(""), sum, "B2E8", 1), `sha256 "B2E8" is not 64 lower-case hex digits`},
		{"not a url", strings.Replace(file(""), `"url":"https://example.com/a.json"`, `"url":"example.com/a.json"`, 1), "is not an http(s) address"},
		{"no source", strings.Replace(file(""), `"origin":"https://example.com/a.json"`, `"repo":"github.com/x/y"`, 1), "source needs repo, commit and path, or origin"},
		{"extract without source_size", file(`,"extract":{"after":"m","from":"a","to":"b"}`), "extract needs source_size"},
		{"extract without a delimiter", file(`,"extract":{"after":"m","from":"a"},"source_size":9`), "extract needs after, from and to"},
		{"subtest in skips", strings.Replace(file(""), `"spec_skips":[]`, `"spec_skips":[{"package":"p","test":"TestA/sub"}]`, 1), "name the top-level test"},
		{"program skip without a program", strings.Replace(file(""), `"program_skips":[]`, `"program_skips":[{"package":"p","test":"TestA"}]`, 1), "program_skips[0]: program is required"},
		{"no files", `{"about":"x","files":[],"spec_skips":[],"program_skips":[]}`, "no files"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseLock([]byte(tc.lock))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseLock = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := parseLock([]byte(file(""))); err != nil {
		t.Fatalf("the valid base lock is rejected: %v", err)
	}
}
