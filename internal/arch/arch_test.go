package arch

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/aftermath-dev/aftermath"

// root is the module's folder.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// rule is one row of a table: the packages its patterns match may import
// what allow matches; any allows everything.
type rule struct {
	patterns []string
	allow    []string
	any      bool
	line     int
}

// cells are the code spans of a table cell: "`a`, `b`" is [a b].
func cells(cell string) []string {
	var spans []string
	for i, part := range strings.Split(cell, "`") {
		if i%2 == 1 {
			spans = append(spans, part)
		}
	}
	return spans
}

// table reads the markdown table under heading in page: its rows after the
// header and the separator.
func table(t *testing.T, page, heading string) []rule {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(page))
	var rules []rule
	in, n := false, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## "+heading
		case in && strings.HasPrefix(line, "|") && !strings.HasPrefix(line, "| ---"):
			cols := strings.Split(strings.Trim(line, "|"), "|")
			if len(cols) != 2 {
				t.Fatalf("docs/architecture.md:%d: want 2 columns, got %d", n, len(cols))
			}
			pats := cells(cols[0])
			if len(pats) == 0 {
				continue // the header row
			}
			r := rule{patterns: pats, allow: cells(cols[1]), line: n}
			r.any = strings.Contains(cols[1], "anything")
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		t.Fatalf("docs/architecture.md has no table under %q", heading)
	}
	return rules
}

func matches(patterns []string, p string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
	}
	return false
}

// packages lists the module's packages (folder relative to the module, or
// "." for the root) with the imports of their non-test files.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	base := root()
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			if rel != "." {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					return filepath.SkipDir // another module (deploy/kubernetes)
				}
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := path.Dir(rel)
		for _, im := range f.Imports {
			ip, _ := strconv.Unquote(im.Path.Value)
			out[dir] = append(out[dir], ip)
		}
		if _, ok := out[dir]; !ok {
			out[dir] = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func page(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(), "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every package imports only what its row of "Which room may import which"
// allows, and every package has a row.
func TestImportsFollowTheArchitecturePage(t *testing.T) {
	rules := table(t, page(t), "Which room may import which")
	pkgs := packages(t)
	if len(pkgs) < 20 {
		t.Fatalf("found %d packages: the walk is broken", len(pkgs))
	}
	for _, dir := range slices.Sorted(func(yield func(string) bool) {
		for d := range pkgs {
			if !yield(d) {
				return
			}
		}
	}) {
		i := slices.IndexFunc(rules, func(r rule) bool { return matches(r.patterns, dir) })
		if i < 0 {
			t.Errorf("%s: no row of docs/architecture.md matches it: add one", dir)
			continue
		}
		r := rules[i]
		for _, ip := range pkgs[dir] {
			own, ok := strings.CutPrefix(ip, module+"/")
			if !ok || r.any {
				continue
			}
			if !matches(r.allow, own) {
				t.Errorf("%s imports %s, which its row (docs/architecture.md:%d) does not allow", dir, own, r.line)
			}
		}
	}
}

// Each outside module of "Which room may use which outside module" is
// imported only by the packages its row names.
func TestOutsideModulesStayInTheirRooms(t *testing.T) {
	rules := table(t, page(t), "Which room may use which outside module")
	pkgs := packages(t)
	for dir, imports := range pkgs {
		for _, ip := range imports {
			for _, r := range rules {
				mod := r.patterns[0]
				if ip != mod && !strings.HasPrefix(ip, mod+"/") {
					continue
				}
				if !matches(r.allow, dir) {
					t.Errorf("%s imports %s, which docs/architecture.md:%d keeps to %s", dir, ip, r.line, strings.Join(r.allow, ", "))
				}
			}
		}
	}
}

// The check can fail: a package that imports what its row forbids, and one
// that no row names, are reported.
func TestTheCheckCatchesAForbiddenImport(t *testing.T) {
	rules := table(t, page(t), "Which room may import which")
	find := func(dir string) rule {
		i := slices.IndexFunc(rules, func(r rule) bool { return matches(r.patterns, dir) })
		if i < 0 {
			t.Fatalf("no row for %s", dir)
		}
		return rules[i]
	}
	if r := find("handlers"); matches(r.allow, "integrations/jira") || matches(r.allow, "workflow") {
		t.Fatal("handlers may import Jira or the workflow: the rule that keeps HTTP apart is gone")
	}
	if r := find("queue"); matches(r.allow, "workflow") || matches(r.allow, "integrations/jira") {
		t.Fatal("the queue engine may import the process or Jira")
	}
	if r := find("store"); matches(r.allow, "workflow") || matches(r.allow, "rules") {
		t.Fatal("store may import the process or the rules")
	}
	if r := find("integrations/jira/jirasim"); matches(r.allow, "internal/testspecs") {
		t.Fatal("a simulator the binary runs may import test helpers")
	}
	if !find("integrations/jira/jirasim").any && !matches(find("integrations/jira/jirasim").allow, "internal/simkit") {
		t.Fatal("the simulators' row does not allow simkit")
	}
}
