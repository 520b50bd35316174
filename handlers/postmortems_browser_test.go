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
// overdue row is marked, the page fits a 390 px phone (see phoneLayout), a
// bad filter answers an HTML page with a way back, the Overdue filter link
// works, the Follow-ups tab lists its rows with a person's text as text
// and filters, logging out leads back to the login form, and screenshots at 1280
// and 390 px are kept in the test's artifact directory (go test -artifacts
// keeps them).
func TestPostmortemsPageInChromium(t *testing.T) {
	path := chromium(t)
	env := newOverview(t, adminToken, overviewSeeds())
	seedFollowups(t, env.store)
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

	badFilter := env.url + "/postmortems?status=Bogus"
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
			// Failed loads (a 404 stylesheet or favicon) and CSP violations;
			// the bad filter's 400 is the one expected.
			if e.Entry.Source == cdplog.SourceNetwork && e.Entry.URL == badFilter {
				return
			}
			if e.Entry.Level == cdplog.LevelError || e.Entry.Level == cdplog.LevelWarning {
				problems = append(problems, fmt.Sprintf("log %s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		}
	})

	var title, overdueBG, ontimeBG, lateText, rowsAfter, filterClass, afterLogout, backAt string
	var overdueRows, rowCount int
	var tab followupsTabSeen
	var shot, phoneShot, tabShot []byte
	var phone phoneLayout
	var bad badFilterPage
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
		// A phone: 390 CSS pixels wide, as an iPhone 12 to 15 shows the page.
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Evaluate(phoneLayoutJS, &phone),
		chromedp.FullScreenshot(&phoneShot, 100),
		// A bad filter typed into the address bar: a page, not JSON, with
		// a link back that works.
		chromedp.Navigate(badFilter),
		chromedp.WaitReady(`body`, chromedp.ByQuery),
		chromedp.Evaluate(badFilterJS, &bad),
		chromedp.ActionFunc(func(ctx context.Context) error {
			if bad.Back == "" { // no link to follow: back by hand
				return chromedp.Navigate(env.url + "/postmortems").Do(ctx)
			}
			return chromedp.Click(`main.problem a`, chromedp.ByQuery).Do(ctx)
		}),
		chromedp.WaitVisible(`tr.overdue`, chromedp.ByQuery),
		chromedp.Evaluate(`location.pathname + location.search`, &backAt),
		chromedp.EmulateViewport(1280, 900),
		chromedp.Click(`nav.filters a[href="/postmortems?overdue=true"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`nav.filters a.on[href="/postmortems?overdue=true"]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("tbody tr").length`, &rowCount),
		chromedp.Evaluate(`[...document.querySelectorAll("tbody tr")].map(r => r.dataset.incident).join(",")`, &rowsAfter),
		chromedp.AttributeValue(`nav.filters a[href="/postmortems?overdue=true"]`, "class", &filterClass, nil, chromedp.ByQuery),
		// The Follow-ups tab: its rows, a person's text as text, a filter,
		// and at 390 px the page still does not scroll sideways.
		chromedp.Click(`nav.tabs a[href="/postmortems?view=followups"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-key="OPS-50"]`, chromedp.ByQuery),
		chromedp.Evaluate(followupsTabJS, &tab.Open),
		chromedp.FullScreenshot(&tabShot, 100),
		chromedp.Click(`nav.filters a[href="/postmortems?overdue=true&view=followups"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`nav.filters a.on[href="/postmortems?overdue=true&view=followups"]`, chromedp.ByQuery),
		chromedp.Evaluate(followupsTabJS, &tab.Overdue),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Evaluate(`document.documentElement.scrollWidth - document.documentElement.clientWidth`, &tab.PhoneOverflow),
		chromedp.EmulateViewport(1280, 900),
		// Log out: the browser's own post passes the same-origin check, and
		// the page asks for the token again.
		chromedp.Click(`header form button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.Title(&afterLogout),
	)
	if err != nil {
		t.Fatalf("chromium: %v (problems so far: %v)", err, problems)
	}
	for name, png := range map[string][]byte{"postmortems.png": shot, "postmortems-390.png": phoneShot, "followups.png": tabShot} {
		out := filepath.Join(t.ArtifactDir(), name)
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", out, len(png))
		if len(png) < 1000 {
			t.Errorf("screenshot %s of %d bytes", name, len(png))
		}
	}

	if title != "Log in · aftermath" {
		t.Errorf("first page title %q, want the login page", title)
	}
	if overdueRows != 1 || overdueBG == ontimeBG || overdueBG == "rgba(0, 0, 0, 0)" || !strings.Contains(lateText, "overdue 3 days") {
		t.Errorf("overdue row: %d rows, background %q (on time %q), %q", overdueRows, overdueBG, ontimeBG, lateText)
	}
	if rowCount != 1 || rowsAfter != "P1" || filterClass != "on" {
		t.Errorf("after the Overdue filter: %d rows (%s), link class %q", rowCount, rowsAfter, filterClass)
	}
	if got := tab.Open; got.Rows != "OPS-2,PAY-101,PAY-1003,PAY-102,OPS-50" || got.Hostile != hostileSummary ||
		got.Injected != 0 || got.TabOn != "Follow-ups" || got.Late != 2 || got.Assignee != "<b>Eve</b>" {
		t.Errorf("the Follow-ups tab: %+v", got)
	}
	if got := tab.Overdue; got.Rows != "OPS-2,PAY-1003" || got.TabOn != "Follow-ups" {
		t.Errorf("the Follow-ups tab, overdue: %+v", got)
	}
	if tab.PhoneOverflow > 0 {
		t.Errorf("at 390 px the Follow-ups tab scrolls sideways by %d px", tab.PhoneOverflow)
	}
	if afterLogout != "Log in · aftermath" {
		t.Errorf("after logging out the title is %q, want the login page", afterLogout)
	}
	t.Logf("at 390 px: document %d/%d px (scrollWidth/clientWidth), table container %d/%d px",
		phone.DocScroll, phone.DocClient, phone.TableScroll, phone.TableClient)
	phone.check(t)
	if bad.ContentType != "text/html" || !strings.Contains(bad.Text, "status must be one of Draft, In Review, Reviewed, Closed") ||
		bad.Back != "/postmortems" || bad.Title != "Bad filter · aftermath" || backAt != "/postmortems" {
		t.Errorf("bad filter in the browser: %+v, back at %q; want an HTML page with the message and a link back to /postmortems", bad, backAt)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(problems, "\n"))
	}
}

// phoneLayoutJS measures the page as a phone shows it; see phoneLayout.
const phoneLayoutJS = `(() => {
  const de = document.documentElement, vw = de.clientWidth;
  const scroller = document.querySelector(".table-scroll");
  const outside = [...document.body.querySelectorAll("*")]
    .filter(e => !(scroller && scroller.contains(e)) && e.getClientRects().length > 0)
    .filter(e => { const r = e.getBoundingClientRect(); return r.left < -0.5 || r.right > vw + 0.5; })
    .map(e => e.tagName.toLowerCase() + (e.className ? "." + e.className : "") + " right " + Math.round(e.getBoundingClientRect().right));
  const keys = [...document.querySelectorAll("td.followups .keys a, td.followups .keys span")];
  const title = document.querySelector('tr[data-incident="P4"] .title');
  const cell = title && title.closest("td");
  return {
    docScroll: de.scrollWidth, docClient: vw,
    tableScroll: scroller ? scroller.scrollWidth : 0, tableClient: scroller ? scroller.clientWidth : 0,
    tableOverflow: scroller ? getComputedStyle(scroller).overflowX : "",
    outside: outside,
    keys: keys.length,
    brokenKeys: keys.filter(k => k.getClientRects().length > 1).map(k => k.textContent),
    titleLines: title ? Math.round(title.getBoundingClientRect().height / parseFloat(getComputedStyle(title).lineHeight)) : 0,
    titleCell: cell ? Math.round(cell.getBoundingClientRect().width) : 0,
  };
})()`

// phoneLayout is the page at 390 px: the document does not scroll
// sideways (scrollWidth <= clientWidth), only the table does, in its own
// container; nothing outside that container reaches past the viewport; no
// follow-up key is split over two lines; the long title wraps in a cell
// wide enough to read.
type phoneLayout struct {
	DocScroll     int      `json:"docScroll"`
	DocClient     int      `json:"docClient"`
	TableScroll   int      `json:"tableScroll"`
	TableClient   int      `json:"tableClient"`
	TableOverflow string   `json:"tableOverflow"`
	Outside       []string `json:"outside"`
	Keys          int      `json:"keys"`
	BrokenKeys    []string `json:"brokenKeys"`
	TitleLines    int      `json:"titleLines"`
	TitleCell     int      `json:"titleCell"`
}

func (p phoneLayout) check(t *testing.T) {
	t.Helper()
	if p.DocClient != 390 || p.DocScroll > p.DocClient {
		t.Errorf("at 390 px the document is %d px wide in a viewport of %d: the whole page scrolls sideways", p.DocScroll, p.DocClient)
	}
	if p.TableOverflow != "auto" || p.TableScroll <= p.TableClient {
		t.Errorf("at 390 px the table's container (overflow-x %q) is %d px of %d: the table should scroll in it", p.TableOverflow, p.TableClient, p.TableScroll)
	}
	if len(p.Outside) > 0 {
		t.Errorf("at 390 px outside the table, past the viewport: %v", p.Outside)
	}
	if p.Keys < 5 || len(p.BrokenKeys) > 0 {
		t.Errorf("at 390 px %d follow-up keys, split over two lines: %v", p.Keys, p.BrokenKeys)
	}
	if p.TitleLines < 2 || p.TitleCell < 160 || p.TitleCell > 340 {
		t.Errorf("at 390 px the long title takes %d lines in a cell of %d px: want it wrapped, in 160 to 340 px", p.TitleLines, p.TitleCell)
	}
}

// followupsTabJS reads the Follow-ups tab; see followupsTab.
const followupsTabJS = `(() => {
  const hostile = document.querySelector('tr[data-key="OPS-50"] .title');
  const eve = document.querySelector('tr[data-key="OPS-50"] td.owner a');
  const on = document.querySelector("nav.tabs a.on");
  return {rows: [...document.querySelectorAll("tbody tr")].map(r => r.dataset.key).join(","),
    late: document.querySelectorAll("tbody tr.overdue .late").length,
    hostile: hostile ? hostile.textContent : "", assignee: eve ? eve.textContent : "",
    injected: document.querySelectorAll("tbody img, tbody script, tbody b, body script").length,
    tabOn: on ? on.textContent : ""};
})()`

// followupsTab is the Follow-ups tab as the browser shows it: its rows'
// keys in order, how many are marked overdue, the hostile summary and
// assignee name as text, and how many elements that text would have made
// had it not been escaped (0).
type followupsTab struct {
	Rows     string `json:"rows"`
	Late     int    `json:"late"`
	Hostile  string `json:"hostile"`
	Assignee string `json:"assignee"`
	Injected int    `json:"injected"`
	TabOn    string `json:"tabOn"`
}

// followupsTabSeen is the tab, all open and overdue only, and how far it
// scrolls sideways at 390 px.
type followupsTabSeen struct {
	Open, Overdue followupsTab
	PhoneOverflow int
}

// badFilterJS reads the page a bad filter answers; see badFilterPage.
const badFilterJS = `(() => {
  const a = document.querySelector("main.problem a");
  return {contentType: document.contentType, title: document.title,
    text: document.body.innerText, back: a ? a.getAttribute("href") : ""};
})()`

// badFilterPage is what the browser shows for /postmortems?status=Bogus.
type badFilterPage struct {
	ContentType string `json:"contentType"`
	Title       string `json:"title"`
	Text        string `json:"text"`
	Back        string `json:"back"`
}
