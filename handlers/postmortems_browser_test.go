package handlers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium finds Debian's chromium (or another Chrome). Without one the
// browser test skips, except under CI=true: .ci/run installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium on PATH (chromium, chromium-browser, google-chrome) and CI=true: .ci/run installs Debian's chromium")
	}
	t.Skip("no Chromium on PATH: install Debian's chromium (apt-get install -y chromium) to run the browser test")
	return ""
}

// The page in a real headless Chromium: the login form leads to the page,
// which loads without a console error (its Content-Security-Policy allows
// no script and no inline style, so a violation would show here), the
// overdue row is marked, the Overdue filter link works, logging out leads
// back to the login form, and a screenshot
// is kept in the test's artifact directory (go test -artifacts keeps it).
func TestPostmortemsPageInChromium(t *testing.T) {
	path := chromium(t)
	env := newOverview(t, adminToken, overviewSeeds())
	// A new, empty profile. Chromium's helper processes may still write to
	// it for a moment after the browser exits, so it is removed with a few
	// tries rather than by t.TempDir, which fails the test on that race.
	profile, err := os.MkdirTemp("", "aftermath-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 20 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove the Chromium profile %s", profile)
	})

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in CI containers
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	var mu sync.Mutex
	var problems []string
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError || e.Type == runtime.APITypeWarning {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value))
				}
				problems = append(problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			// Failed loads (a 404 stylesheet or favicon) and CSP violations.
			if e.Entry.Level == cdplog.LevelError || e.Entry.Level == cdplog.LevelWarning {
				problems = append(problems, fmt.Sprintf("log %s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		}
	})

	var title, overdueBG, ontimeBG, lateText, rowsAfter, filterClass, afterLogout string
	var overdueRows, rowCount int
	var shot []byte
	err = chromedp.Run(ctx,
		cdplog.Enable(),
		runtime.Enable(),
		chromedp.Navigate(env.url+"/postmortems"),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.Title(&title),
		chromedp.SendKeys(`#token`, adminToken, chromedp.ByID),
		chromedp.Submit(`#token`, chromedp.ByID),
		chromedp.WaitVisible(`tr.overdue`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("tbody tr.overdue").length`, &overdueRows),
		chromedp.Evaluate(`getComputedStyle(document.querySelector("tr.overdue")).backgroundColor`, &overdueBG),
		chromedp.Evaluate(`getComputedStyle(document.querySelector("tr.ontime")).backgroundColor`, &ontimeBG),
		chromedp.Text(`tr.overdue .late`, &lateText, chromedp.ByQuery),
		chromedp.FullScreenshot(&shot, 100), // 100: PNG,
		chromedp.Click(`nav.filters a[href="/postmortems?overdue=true"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`nav.filters a.on[href="/postmortems?overdue=true"]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("tbody tr").length`, &rowCount),
		chromedp.Evaluate(`[...document.querySelectorAll("tbody tr")].map(r => r.dataset.incident).join(",")`, &rowsAfter),
		chromedp.AttributeValue(`nav.filters a[href="/postmortems?overdue=true"]`, "class", &filterClass, nil, chromedp.ByQuery),
		// Log out: the browser's own post passes the same-origin check, and
		// the page asks for the token again.
		chromedp.Click(`header form button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.Title(&afterLogout),
	)
	if err != nil {
		t.Fatalf("chromium: %v (problems so far: %v)", err, problems)
	}
	out := filepath.Join(t.ArtifactDir(), "postmortems.png")
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(shot))

	if title != "Log in · aftermath" {
		t.Errorf("first page title %q, want the login page", title)
	}
	if overdueRows != 1 || overdueBG == ontimeBG || overdueBG == "rgba(0, 0, 0, 0)" || !strings.Contains(lateText, "overdue 3 days") {
		t.Errorf("overdue row: %d rows, background %q (on time %q), %q", overdueRows, overdueBG, ontimeBG, lateText)
	}
	if rowCount != 1 || rowsAfter != "P1" || filterClass != "on" {
		t.Errorf("after the Overdue filter: %d rows (%s), link class %q", rowCount, rowsAfter, filterClass)
	}
	if afterLogout != "Log in · aftermath" {
		t.Errorf("after logging out the title is %q, want the login page", afterLogout)
	}
	if len(shot) < 1000 {
		t.Errorf("screenshot of %d bytes", len(shot))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(problems, "\n"))
	}
}
