// Command specs fetches the official API specs and PagerDuty's signed webhook
// samples that the tests validate against, pinned in testdata/specs.lock, and
// checks a test run's skipped tests against the lock. See docs/specs.md.
//
//	go run ./tools/specs fetch [-lock testdata/specs.lock] [-dir DIR] [-update]   (make specs)
//	go test -json ./... | go run ./tools/specs skips [-lock testdata/specs.lock]
//
// fetch keeps each file that is already there with the right sha256 (no
// request made), and otherwise downloads it from its pinned URL, cuts it out
// of the source when the lock says so, checks its size and sha256 and writes
// it atomically. It never leaves a partial or wrong file behind.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// modulePath is the module this tool belongs to: its go.mod marks the root
// that the default lock and specs folder are relative to.
const modulePath = "github.com/aftermath-dev/aftermath"

// specsEnv names the specs folder when it is not ../shared/specs beside the
// module (the same variable as internal/testspecs.EnvVar).
const specsEnv = "AFTERMATH_SPECS"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

const usage = `usage:
  go run ./tools/specs fetch [-lock testdata/specs.lock] [-dir DIR] [-update] [-timeout 2m]
      bring the specs folder in line with the lock (make specs). DIR defaults
      to $AFTERMATH_SPECS, else ../shared/specs beside the module.
  go run ./tools/specs skips [-lock testdata/specs.lock] < go-test-json-output
      list the failed and skipped tests of a go test -json run; exit 1 if a
      test failed or a skip is not allowed by the lock (a program test is
      never allowed under CI=true).
`

// run is the command; it returns the exit code: 0 done, 1 a problem
// reported, 2 bad usage.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "fetch":
		return runFetch(ctx, args[1:], stdout, stderr, getenv)
	case "skips":
		return runSkips(args[1:], stdin, stdout, stderr, getenv)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "specs: unknown command %q\n%s", args[0], usage)
	return 2
}

func runFetch(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("specs fetch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lockFile := fs.String("lock", "", "the lock file (default testdata/specs.lock in the module)")
	dir := fs.String("dir", "", "the specs folder (default $"+specsEnv+", else ../shared/specs beside the module)")
	update := fs.Bool("update", false, "after changing a pin (url) in the lock: download every file and rewrite its size and sha256 (and source_size) in the lock")
	timeout := fs.Duration("timeout", 2*time.Minute, "time limit of each download")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "specs fetch: unexpected arguments %q\n", fs.Args())
		return 2
	}
	lockPath, err := defaultLock(*lockFile)
	if err == nil && *dir == "" {
		*dir, err = defaultDir(getenv)
	}
	if err != nil {
		fmt.Fprintf(stderr, "specs fetch: %v\n", err)
		return 1
	}
	l, err := loadLock(lockPath)
	if err != nil {
		fmt.Fprintf(stderr, "specs fetch: %v\n", err)
		return 1
	}
	fe := newFetcher(l, *dir, *timeout, stdout)
	fe.update = *update
	c := fe.run(ctx)
	fmt.Fprintf(stdout, "specs in %s: %d files: %d kept, %d fetched, %d updated, %d failed\n",
		*dir, len(l.Files), c.kept, c.fetched, c.updated, c.failed)
	if hint := fe.offlineHint(); hint != "" {
		fmt.Fprintln(stderr, hint)
	}
	if *update && c.updated > 0 {
		if err := l.save(lockPath); err != nil {
			fmt.Fprintf(stderr, "specs fetch: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "rewrote %s: %d entries updated; review and commit it\n", lockPath, c.updated)
	}
	if c.failed > 0 {
		return 1
	}
	return 0
}

func runSkips(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("specs skips", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lockFile := fs.String("lock", "", "the lock file (default testdata/specs.lock in the module)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "specs skips: unexpected arguments %q\n", fs.Args())
		return 2
	}
	lockPath, err := defaultLock(*lockFile)
	if err != nil {
		fmt.Fprintf(stderr, "specs skips: %v\n", err)
		return 1
	}
	l, err := loadLock(lockPath)
	if err != nil {
		fmt.Fprintf(stderr, "specs skips: %v\n", err)
		return 1
	}
	rn, err := readRun(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "specs skips: %v\n", err)
		return 1
	}
	failed := reportFailures(stdout, rn)
	if reportSkips(stdout, l, rn.skips, getenv("CI") == "true") > 0 || failed > 0 {
		return 1
	}
	return 0
}

// defaultLock is flagValue, else testdata/specs.lock in the module.
func defaultLock(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "testdata", "specs.lock"), nil
}

// defaultDir is $AFTERMATH_SPECS, else ../shared/specs beside the module:
// where internal/testspecs looks.
func defaultDir(getenv func(string) string) (string, error) {
	if d := getenv(specsEnv); d != "" {
		return d, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(root), "shared", "specs"), nil
}

// moduleRoot walks up from the working directory to aftermath's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("find the module root: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the %s module: run from the repository, or pass -lock (and -dir)", modulePath)
		}
		dir = parent
	}
}
