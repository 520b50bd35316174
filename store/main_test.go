package store

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/aftermath-dev/aftermath/internal/redistest"
)

// cluster is the 3-master Redis Cluster of the second run, nil on the first.
var cluster *redistest.Cluster

// TestMain runs the package's tests twice: on one Redis server, then again
// on a 3-master Redis Cluster, where a script or transaction whose keys are
// in more than one hash slot fails with CROSSSLOT. On both runs every
// client carries the OneSlot hook, and after a full run every script and
// transaction call site of the package must have been exercised under it:
// together, the proof that each atomic step keeps its keys in one slot.
func TestMain(m *testing.M) {
	if code := m.Run(); code != 0 || flag.Lookup("test.list").Value.String() != "" {
		os.Exit(code)
	}
	fullRun := flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.skip").Value.String() == ""
	if fullRun {
		if err := everySiteSeen("one server"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			if redistest.Required() {
				fmt.Fprintf(os.Stderr, "AFTERMATH_TEST_REDIS=required but %s is not installed\n", bin)
				os.Exit(1)
			}
			fmt.Fprintf(os.Stderr, "%s is not installed: store tests not run on a Redis Cluster\n", bin)
			os.Exit(0)
		}
	}
	dir, err := os.MkdirTemp("", "aftermath-store-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if cluster, err = redistest.NewCluster(dir); err != nil {
		fmt.Fprintln(os.Stderr, "start redis cluster:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "store: the same tests again on a Redis Cluster at %s\n", strings.Join(cluster.Addrs, ", "))
	resetSites()
	code := m.Run()
	cluster.Close()
	_ = os.RemoveAll(dir)
	if code == 0 && fullRun {
		if err := everySiteSeen("Redis Cluster"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

var (
	sitesMu sync.Mutex
	sites   = map[string]int{} // file:line -> scripts and transactions run from there
)

func resetSites() {
	sitesMu.Lock()
	defer sitesMu.Unlock()
	clear(sites)
}

// watchSlots puts the OneSlot hook on c for the test: the test fails on any
// script or transaction across slots, and the call sites it ran are noted.
func watchSlots(t *testing.T, c redis.UniversalClient) {
	h := &redistest.OneSlot{}
	c.AddHook(h)
	t.Cleanup(func() {
		for _, p := range h.Problems() {
			t.Errorf("not one hash slot: %s", p)
		}
		sitesMu.Lock()
		defer sitesMu.Unlock()
		for s, n := range h.Sites() {
			sites[s] += n
		}
	})
}

// site is a call in the package's source that runs a script or a
// transaction.
type site struct {
	file       string
	from, to   int // lines of the call expression
	what, call string
}

// atomicSites finds, in the package's non-test files, every call that runs a
// Lua script (<x>Script.Run, or Eval/EvalSha directly) or a MULTI block
// (TxPipelined, TxPipeline, Watch).
func atomicSites() ([]site, error) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var out []site
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			return nil, err
		}
		abs, _ := filepath.Abs(name)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			what := ""
			switch sel.Sel.Name {
			case "Run", "RunRO":
				if id, ok := sel.X.(*ast.Ident); ok && strings.HasSuffix(id.Name, "Script") {
					what = "script " + id.Name
				}
			case "Eval", "EvalSha", "EvalRO", "EvalShaRO", "FCall":
				what = "script"
			case "TxPipelined", "TxPipeline", "Watch":
				what = "transaction"
			}
			if what != "" {
				out = append(out, site{file: abs, from: fset.Position(call.Pos()).Line, to: fset.Position(call.End()).Line,
					what: what, call: fmt.Sprintf("%s:%d", name, fset.Position(call.Pos()).Line)})
			}
			return true
		})
	}
	return withinTransactions(out), nil
}

// withinTransactions drops the script calls made inside a transaction's
// function (Script.Eval on the Pipeliner): they run with the transaction,
// whose site is the one the hook sees.
func withinTransactions(all []site) []site {
	var out []site
	for _, s := range all {
		inside := false
		for _, tx := range all {
			if tx.what == "transaction" && s.what != "transaction" && s.file == tx.file && s.from > tx.from && s.to <= tx.to {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, s)
		}
	}
	return out
}

// everySiteSeen checks that each script and transaction call site ran under
// the hook at least once during the run.
func everySiteSeen(run string) error {
	all, err := atomicSites()
	if err != nil {
		return err
	}
	if len(all) < 15 {
		return fmt.Errorf("found only %d script and transaction call sites in the store package: the search is broken", len(all))
	}
	sitesMu.Lock()
	defer sitesMu.Unlock()
	var missing []string
	for _, s := range all {
		seen := false
		for at := range sites {
			file, line, ok := splitSite(at)
			if ok && file == s.file && line >= s.from && line <= s.to {
				seen = true
				break
			}
		}
		if !seen {
			missing = append(missing, s.call+" ("+s.what+")")
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("on %s, no test ran these script or transaction call sites under the OneSlot hook:\n  %s", run, strings.Join(missing, "\n  "))
	}
	return nil
}

func splitSite(at string) (string, int, bool) {
	i := strings.LastIndexByte(at, ':')
	if i < 0 {
		return "", 0, false
	}
	var line int
	_, err := fmt.Sscan(at[i+1:], &line)
	return at[:i], line, err == nil
}
