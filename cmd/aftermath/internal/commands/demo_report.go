package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutysim"
	"github.com/aftermath-dev/aftermath/internal/simkit"
	"github.com/aftermath-dev/aftermath/store"
)

// demoReport is what the demo shows; with --json it is printed as is, for
// scripts and the demo's own tests. docs/demo-report.schema.json describes
// it, and a test holds the output to that schema.
type demoReport struct {
	Primary       string       `json:"primary"`
	Group         []demoMember `json:"group"`
	FinalSeverity string       `json:"final_severity"`
	FinalPriority string       `json:"final_priority"`
	Owner         demoPerson   `json:"owner"`
	Epic          demoIssue    `json:"epic"`
	PageFile      string       `json:"page_file"`
	PageHead      []string     `json:"page_head"`
	FollowUps     []demoIssue  `json:"follow_ups"`
	Notes         []demoNote   `json:"notes"`
	MeetingDue    time.Time    `json:"meeting_due"`
	ReviewDue     time.Time    `json:"review_due"`
	// Recurs are the earlier post-mortems whose open follow-ups this
	// incident recurred (its page's section "Earlier incidents on these
	// services", its epic's label recurrence).
	Recurs []demoRecurrence `json:"recurs"`
	// Messages are those about the primary's post-mortem, CalendarHold the
	// meeting hold attached to the owner's (null when none was sent).
	Messages     []demoMessage `json:"messages"`
	CalendarHold *demoHold     `json:"calendar_hold"`
	MessagesDir  string        `json:"messages_dir"`
	// Earlier are the post-mortems the demo played before, days ago on its
	// clock; Overview is what /postmortems shows of them all.
	Earlier  []demoPostmortem `json:"earlier"`
	Overview demoOverview     `json:"overview"`
	// Calls counts the requests each simulator received, by method, and in
	// all under "total": {"jira": {"total": 4, "GET": 1, ...}, ...}.
	Calls      map[string]map[string]int `json:"calls"`
	Violations []string                  `json:"violations"`
	URLs       map[string]string         `json:"urls"`
	ElapsedMS  int64                     `json:"elapsed_ms"`
	// Confluence is the post-mortem's Confluence page (demo --page
	// confluence only).
	Confluence *demoConfluence `json:"confluence,omitempty"`
}

type demoPerson struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

func (p demoPerson) String() string {
	switch {
	case p.Name != "" && p.Email != "":
		return p.Name + " <" + p.Email + ">"
	case p.Email != "":
		return p.Email
	case p.Name != "":
		return p.Name
	}
	return "(unassigned)"
}

type demoMember struct {
	ID     string   `json:"id"`
	Number int      `json:"number"`
	Title  string   `json:"title"`
	Status string   `json:"status"`
	Got    []string `json:"got"`
}

type demoIssue struct {
	Key      string   `json:"key"`
	Summary  string   `json:"summary"`
	Labels   []string `json:"labels"`
	DueDate  string   `json:"due_date,omitempty"`
	Assignee string   `json:"assignee,omitempty"`
	Status   string   `json:"status,omitempty"`
}

type demoNote struct {
	Incident string `json:"incident"`
	Content  string `json:"content"`
}

// demoMessage is one message aftermath sent, as the sink or the receiver
// got it.
type demoMessage struct {
	Postmortem string   `json:"postmortem"` // the epic's key
	Kind       string   `json:"kind"`       // created, hold, review, overdue, reviewed
	Channel    string   `json:"channel"`    // email, slack
	To         []string `json:"to"`         // addresses; for Slack the variable that holds the webhook URL
	Subject    string   `json:"subject"`    // the email's subject, the Slack message's text
	File       string   `json:"file"`       // the .eml or .json under messages_dir
}

// demoHold is the meeting's calendar hold, as attached to the owner's mail.
type demoHold struct {
	File      string    `json:"file"`    // the .ics, written beside the page
	DTStart   string    `json:"dtstart"` // as written
	Start     time.Time `json:"start"`
	Organizer string    `json:"organizer"`
	Attendees []string  `json:"attendees"`
}

// demoPostmortem is an earlier post-mortem, as aftermath tracks it.
type demoPostmortem struct {
	Incident   string     `json:"incident"`
	Number     int        `json:"number"`
	Title      string     `json:"title"`
	Severity   string     `json:"severity"`
	Epic       string     `json:"epic"`
	Owner      demoPerson `json:"owner"`
	Status     string     `json:"status"`
	ResolvedAt time.Time  `json:"resolved_at"`
	MeetingDue time.Time  `json:"meeting_due"`
	Overdue    bool       `json:"overdue"`
	DaysLate   int        `json:"days_late"`
	// DaysToReviewed is from the post-mortem's making to its first
	// Reviewed (null until then).
	DaysToReviewed *float64       `json:"days_to_reviewed"`
	Reminders      []demoReminder `json:"reminders"`
	Messages       []demoMessage  `json:"messages"`
	// Followups are its follow-up tickets, with their due dates and the
	// reminders an overdue one got; Recurred the comments saying a later
	// incident recurred it.
	Followups []demoFollowup `json:"followups"`
	Recurred  []string       `json:"recurred"`
}

// demoFollowup is a follow-up ticket of an earlier post-mortem.
type demoFollowup struct {
	Key     string `json:"key"`
	Summary string `json:"summary"`
	DueDate string `json:"due_date"`
	Status  string `json:"status"`
	// Reminders are the first lines of the overdue reminders commented on
	// it.
	Reminders []string `json:"reminders"`
}

// demoRecurrence is an earlier post-mortem the demo's incident recurred.
type demoRecurrence struct {
	Epic  string   `json:"epic"`
	Title string   `json:"title"`
	Open  []string `json:"open"`
}

// demoReminder is a reminder sent: the comment on the epic (its first
// line), besides the messages of the same kind.
type demoReminder struct {
	Kind    string    `json:"kind"` // review, overdue
	N       int       `json:"n"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment"`
}

// demoOverview is the summary of the managers' overview (/postmortems),
// counted as that page counts it.
type demoOverview struct {
	URL      string `json:"url"`
	Open     int    `json:"open"`
	InReview int    `json:"in_review"`
	Overdue  int    `json:"overdue"`
	// MedianDaysToReviewed is over the post-mortems Reviewed in the last
	// 90 days (Reviewed of them); null when none was.
	MedianDaysToReviewed *float64 `json:"median_days_to_reviewed"`
	Reviewed             int      `json:"reviewed"`
}

// report reads what the workflow did from the simulators' and the sinks'
// state and the store, and writes the page and the hold under the demo's
// directory.
func (d *demoEnv) report(ctx context.Context) (*demoReport, error) {
	rep := &demoReport{Primary: demoPrimary, Calls: map[string]map[string]int{}, Violations: []string{}, MessagesDir: d.msgDir,
		URLs: map[string]string{
			"aftermath": "http://" + d.app.Addr(), "pagerduty": d.pd.URL(), "jira": d.js.URL(), "smtp": "smtp://" + d.smtp.Addr, "slack": d.slack.URL,
		}}
	grp, _, err := d.app.Store().GroupOf(ctx, demoPrimary)
	if err != nil {
		return nil, err
	}
	for _, id := range grp.Members {
		rep.Group = append(rep.Group, d.member(id))
	}
	rep.Notes = d.botNotes(grp.Members)
	primary, _ := d.pd.Incident(demoPrimary)
	rep.FinalPriority = primary.Priority
	rl := d.app.Rules()
	if sev, _, ok := rl.SeverityFor(primary.Priority); ok {
		rep.FinalSeverity = sev.Name
		if rep.MeetingDue, err = rl.MeetingDeadline(sev.Name, primary.ResolvedAt); err != nil {
			return nil, err
		}
		rep.ReviewDue = rl.ReviewDeadline(rep.MeetingDue)
	}
	pm, err := d.postmortem(ctx, demoPrimary)
	if err != nil {
		return nil, err
	}
	for _, is := range d.js.Issues() {
		di := demoIssue{Key: is.Key, Summary: is.Summary, Labels: is.Labels, DueDate: is.DueDate, Assignee: is.Assignee, Status: is.Status}
		switch {
		case is.Key == pm.Key:
			rep.Epic = di
			rep.Owner = d.jiraUser(is.Assignee)
			if rep.PageFile, rep.PageHead, err = writePage(d.dir, is.Key, is.Description); err != nil {
				return nil, err
			}
		case is.Parent == pm.Key:
			rep.FollowUps = append(rep.FollowUps, di)
		}
	}
	if rep.Recurs, err = d.recurs(ctx); err != nil {
		return nil, err
	}
	msgs := d.messages(ctx)
	rep.Messages = msgs[demoPrimary]
	if rep.CalendarHold, err = d.hold(pm.Key); err != nil {
		return nil, err
	}
	for _, id := range []string{demoReviewed, demoLate} {
		e, err := d.earlier(ctx, id)
		if err != nil {
			return nil, err
		}
		e.Messages = msgs[id]
		rep.Earlier = append(rep.Earlier, e)
	}
	if rep.Overview, err = d.overview(ctx); err != nil {
		return nil, err
	}
	rep.Calls["pagerduty"] = countCalls(d.pd.Calls())
	rep.Calls["jira"] = countCalls(d.js.Calls())
	rep.Violations = append(rep.Violations, d.pd.Violations()...)
	rep.Violations = append(rep.Violations, d.js.Violations()...)
	if err := d.confluenceReport(rep); err != nil {
		return nil, err
	}
	rep.ElapsedMS = time.Since(d.started).Milliseconds()
	rep.emptyNotNull()
	return rep, nil
}

// recurs are the earlier post-mortems the outage recurred.
func (d *demoEnv) recurs(ctx context.Context) ([]demoRecurrence, error) {
	recs, err := d.app.Store().RecurrencesOf(ctx, demoPrimary)
	if err != nil {
		return nil, err
	}
	var out []demoRecurrence
	for _, rc := range recs {
		if rc.Incident != demoPrimary {
			continue
		}
		title := ""
		if e, found, err := d.app.Store().Deadline(ctx, rc.Earlier); err == nil && found {
			title = fmt.Sprintf("#%d %s", e.Number, e.Title)
		}
		out = append(out, demoRecurrence{Epic: rc.EarlierKey, Title: title, Open: rc.Open})
	}
	return out, nil
}

// emptyNotNull makes every list of the report a list, empty when there is
// nothing in it, never a JSON null: scripts iterate without a check.
func (r *demoReport) emptyNotNull() {
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	r.PageHead = orEmpty(r.PageHead)
	r.Epic.Labels = orEmpty(r.Epic.Labels)
	for i := range r.Group {
		r.Group[i].Got = orEmpty(r.Group[i].Got)
	}
	for i := range r.FollowUps {
		r.FollowUps[i].Labels = orEmpty(r.FollowUps[i].Labels)
	}
	if r.Group == nil {
		r.Group = []demoMember{}
	}
	if r.FollowUps == nil {
		r.FollowUps = []demoIssue{}
	}
	if r.Notes == nil {
		r.Notes = []demoNote{}
	}
	if r.Messages == nil {
		r.Messages = []demoMessage{}
	}
	if r.Earlier == nil {
		r.Earlier = []demoPostmortem{}
	}
	if r.Recurs == nil {
		r.Recurs = []demoRecurrence{}
	}
	for i := range r.Recurs {
		r.Recurs[i].Open = orEmpty(r.Recurs[i].Open)
	}
	for i := range r.Earlier {
		e := &r.Earlier[i]
		if e.Messages == nil {
			e.Messages = []demoMessage{}
		}
		if e.Followups == nil {
			e.Followups = []demoFollowup{}
		}
		e.Recurred = orEmpty(e.Recurred)
	}
}

// messages sorts what the sink and the receiver got by the incident whose
// post-mortem they are about, in the order sent: each demo step (phase)
// owns the messages that arrived during it.
func (d *demoEnv) messages(ctx context.Context) map[string][]demoMessage {
	keys := map[string]string{}
	for _, id := range []string{demoPrimary, demoReviewed, demoLate} {
		if pm, found, err := d.app.Store().Deadline(ctx, id); err == nil && found {
			keys[id] = pm.Key
		}
	}
	out := map[string][]demoMessage{}
	mails, posts, files := d.smtp.Mails(), d.slack.Posts(), d.slack.Files()
	m, p := 0, 0
	for _, ph := range d.phases {
		for ; m < ph.mails && m < len(mails); m++ {
			kind, subject := ph.kind, mails[m].Subject()
			if strings.HasPrefix(subject, "Meeting hold: ") {
				kind = "hold"
			}
			out[ph.incident] = append(out[ph.incident], demoMessage{Postmortem: keys[ph.incident], Kind: kind, Channel: "email",
				To: mails[m].To, Subject: subject, File: mails[m].File})
		}
		for ; p < ph.post && p < len(posts); p++ {
			file := ""
			if p < len(files) {
				file = files[p]
			}
			out[ph.incident] = append(out[ph.incident], demoMessage{Postmortem: keys[ph.incident], Kind: ph.kind, Channel: "slack",
				To: []string{demoSlackEnv}, Subject: firstLine(posts[p].Text), File: file})
		}
	}
	return out
}

// hold finds the calendar hold attached to the owner's mail about key,
// writes it beside the page and reads its start and attendees.
func (d *demoEnv) hold(key string) (*demoHold, error) {
	for _, m := range d.smtp.Mails() {
		if !strings.HasPrefix(m.Subject(), "Meeting hold: Post-mortem "+key+":") {
			continue
		}
		parts, err := m.Parts()
		if err != nil {
			return nil, fmt.Errorf("read the meeting hold: %w", err)
		}
		for _, p := range parts {
			if p.ContentType != "text/calendar" {
				continue
			}
			name := filepath.Base(p.Filename)
			if name == "." || name == "/" || name == "" {
				name = "postmortem-" + key + ".ics"
			}
			h := icsSummary(p.Body)
			h.File = filepath.Join(d.dir, name)
			if err := os.WriteFile(h.File, p.Body, 0o644); err != nil {
				return nil, fmt.Errorf("write the meeting hold: %w", err)
			}
			return &h, nil
		}
	}
	return nil, nil
}

// icsSummary reads a calendar's DTSTART, ORGANIZER and ATTENDEEs (their
// addresses), content lines unfolded as RFC 5545 section 3.1 says.
func icsSummary(raw []byte) demoHold {
	text := strings.NewReplacer("\r\n ", "", "\r\n\t", "", "\n ", "", "\n\t", "").Replace(string(raw))
	h := demoHold{Attendees: []string{}}
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		name, value := icsSplit(line)
		switch name {
		case "DTSTART":
			h.DTStart = value
			h.Start, _ = time.Parse("20060102T150405Z", value)
		case "ORGANIZER":
			h.Organizer = strings.TrimPrefix(strings.ToLower(value), "mailto:")
		case "ATTENDEE":
			h.Attendees = append(h.Attendees, strings.TrimPrefix(strings.ToLower(value), "mailto:"))
		}
	}
	return h
}

// icsSplit splits a content line into its name and its value: the value
// follows the first colon that is not inside a quoted parameter value.
func icsSplit(line string) (name, value string) {
	quoted := false
	for i, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ':' && !quoted:
			head := line[:i]
			if j := strings.IndexByte(head, ';'); j >= 0 {
				head = head[:j]
			}
			return strings.ToUpper(head), line[i+1:]
		}
	}
	return "", ""
}

// earlier is what aftermath tracks of an earlier incident's post-mortem.
func (d *demoEnv) earlier(ctx context.Context, id string) (demoPostmortem, error) {
	pm, err := d.postmortem(ctx, id)
	if err != nil {
		return demoPostmortem{}, err
	}
	late, days := pm.Overdue(d.clock.Now())
	owner := d.person(pm.Owner)
	if pm.OwnerName != "" {
		owner.Name = pm.OwnerName
	}
	e := demoPostmortem{Incident: id, Number: pm.Number, Title: pm.Title, Severity: pm.Severity, Epic: pm.Key, Owner: owner,
		Status: pm.Status, ResolvedAt: pm.ResolvedAt, MeetingDue: pm.MeetingDue, Overdue: late, DaysLate: days, Reminders: []demoReminder{}}
	if at, ok := reviewedAt(pm); ok {
		days := tenths(at.Sub(pm.History[0].At).Hours() / 24)
		e.DaysToReviewed = &days
	}
	epic, _ := d.js.Issue(pm.Key)
	for _, s := range pm.Reminders {
		r := demoReminder{Kind: s.Kind, N: s.N, At: s.At}
		// The marker the workflow ends each reminder's comment with.
		marker := fmt.Sprintf("aftermath-ref-reminder-%s-%d-%s", s.Kind, s.N, id)
		for _, c := range epic.Comments {
			if strings.Contains(c.Body, marker) {
				r.Comment = firstLine(c.Body)
			}
		}
		e.Reminders = append(e.Reminders, r)
	}
	for _, c := range epic.Comments {
		if strings.Contains(c.Body, "aftermath-ref-recurred-") {
			e.Recurred = append(e.Recurred, firstLine(c.Body))
		}
	}
	for _, is := range d.js.Issues() {
		if is.Parent != pm.Key {
			continue
		}
		f := demoFollowup{Key: is.Key, Summary: is.Summary, DueDate: is.DueDate, Status: is.Status, Reminders: []string{}}
		for _, c := range is.Comments {
			if strings.Contains(c.Body, "aftermath-ref-") {
				f.Reminders = append(f.Reminders, firstLine(c.Body))
			}
		}
		e.Followups = append(e.Followups, f)
	}
	return e, nil
}

// reviewedAt is when the post-mortem first reached Reviewed.
func reviewedAt(pm store.Deadline) (time.Time, bool) {
	i := slices.IndexFunc(pm.History, func(t store.Transition) bool { return t.Status == store.StatusReviewed })
	if i < 0 {
		return time.Time{}, false
	}
	return pm.History[i].At, true
}

// overview counts as the /postmortems page's summary does (handlers
// summarize): open (not Closed), In Review, overdue, and the median days
// from the making to the first Reviewed of those Reviewed in the last 90
// days.
func (d *demoEnv) overview(ctx context.Context) (demoOverview, error) {
	all, err := d.app.Store().AllPostmortems(ctx)
	if err != nil {
		return demoOverview{}, err
	}
	now := d.clock.Now()
	o := demoOverview{URL: "http://" + d.app.Addr() + "/postmortems"}
	var days []float64
	for _, pm := range all {
		if pm.Status != store.StatusClosed {
			o.Open++
		}
		if pm.Status == store.StatusInReview {
			o.InReview++
		}
		if late, _ := pm.Overdue(now); late {
			o.Overdue++
		}
		if at, ok := reviewedAt(pm); ok && len(pm.History) > 0 && !at.After(now) && now.Sub(at) <= 90*24*time.Hour {
			days = append(days, at.Sub(pm.History[0].At).Hours()/24)
		}
	}
	if o.Reviewed = len(days); len(days) > 0 {
		slices.Sort(days)
		m := days[len(days)/2]
		if len(days)%2 == 0 {
			m = (days[len(days)/2-1] + days[len(days)/2]) / 2
		}
		m = tenths(m)
		o.MedianDaysToReviewed = &m
	}
	return o, nil
}

// tenths rounds days to a tenth, as the overview page shows them.
func tenths(days float64) float64 { return math.Round(days*10) / 10 }

// member says what one group member got, from the simulator's state.
func (d *demoEnv) member(id string) demoMember {
	in, _ := d.pd.Incident(id)
	m := demoMember{ID: id, Number: in.Number, Title: in.Title, Status: in.Status}
	if id == demoPrimary {
		m.Got = append(m.Got, "the post-mortem (primary)")
	}
	for _, e := range in.LogEntries {
		switch {
		case e.Type == pagerdutysim.ResolveLogEntry && e.AgentID == "PBOT":
			m.Got = append(m.Got, "resolved by aftermath (it was still open)")
		case e.Type == pagerdutysim.PriorityChangeLogEntry && e.AgentID == "PBOT":
			m.Got = append(m.Got, fmt.Sprintf("priority %s -> %s", e.OldPriority, e.NewPriority))
		}
	}
	for _, n := range in.Notes {
		if n.UserID == "PBOT" {
			m.Got = append(m.Got, "note: "+firstLine(n.Content))
		}
	}
	return m
}

func (d *demoEnv) botNotes(ids []string) []demoNote {
	var out []demoNote
	for _, id := range ids {
		for _, n := range d.pd.Notes(id) {
			if n.UserID == "PBOT" {
				out = append(out, demoNote{Incident: id, Content: n.Content})
			}
		}
	}
	return out
}

// jiraUser is the person behind a Jira account.
func (d *demoEnv) jiraUser(accountID string) demoPerson {
	for _, u := range demoUsers {
		if u.account == accountID {
			return demoPerson{Name: u.name, Email: u.email}
		}
	}
	return demoPerson{Name: accountID}
}

// person is the person behind an email.
func (d *demoEnv) person(email string) demoPerson {
	for _, u := range demoUsers {
		if strings.EqualFold(u.email, email) {
			return demoPerson{Name: u.name, Email: u.email}
		}
	}
	return demoPerson{Email: email}
}

// countCalls counts calls by method, and in all under "total".
func countCalls(calls []simkit.Call) map[string]int {
	out := map[string]int{"total": len(calls)}
	for _, c := range calls {
		out[c.Method]++
	}
	return out
}

// writePage writes the epic's description into dir and returns its path
// and first lines.
func writePage(dir, key, page string) (string, []string, error) {
	path := filepath.Join(dir, "postmortem-"+key+".jira.txt")
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		return "", nil, fmt.Errorf("write the post-mortem page: %w", err)
	}
	lines := strings.Split(page, "\n")
	return path, lines[:min(len(lines), 12)], nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func (r *demoReport) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *demoReport) writeText(w io.Writer) error {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	r.writePrimary(p)
	r.writeEarlier(p)
	r.writeTotals(p)
	return nil
}

// writePrimary prints what aftermath did about the primary's resolution:
// the group, the post-mortem, its follow-ups, notes, deadlines and
// messages.
func (r *demoReport) writePrimary(p func(string, ...any)) {
	p("\nDone in %s. What aftermath did:\n", (time.Duration(r.ElapsedMS) * time.Millisecond).String())
	p("Group of %d incidents under primary %s:", len(r.Group), r.Primary)
	for _, m := range r.Group {
		p("  #%d %s %q (%s)", m.Number, m.ID, m.Title, m.Status)
		for _, g := range m.Got {
			p("      - %s", g)
		}
	}
	p("Final severity: %s (PagerDuty priority %s)", r.FinalSeverity, r.FinalPriority)
	p("Owner: %s", r.Owner)
	p("Post-mortem epic %s: %s", r.Epic.Key, r.Epic.Summary)
	p("  labels %s, due %s, status %s", strings.Join(r.Epic.Labels, ", "), r.Epic.DueDate, r.Epic.Status)
	p("  page written to %s; it begins:", r.PageFile)
	for _, l := range r.PageHead {
		p("    | %s", l)
	}
	r.writeConfluence(p)
	p("Follow-ups (%d):", len(r.FollowUps))
	for _, f := range r.FollowUps {
		p("  %s %s  [%s]", f.Key, f.Summary, strings.Join(f.Labels, ", "))
	}
	p("Notes written to PagerDuty (%d):", len(r.Notes))
	for _, n := range r.Notes {
		p("  on %s: %s", n.Incident, strings.ReplaceAll(n.Content, "\n", " / "))
	}
	for _, rc := range r.Recurs {
		p("Recurrence: it recurs %s (%s), whose follow-ups %s were open: a comment on %s, a note on the incident, the page's section \"Earlier incidents on these services\" and the label recurrence",
			rc.Epic, rc.Title, strings.Join(rc.Open, ", "), rc.Epic)
	}
	p("Deadlines: meeting due %s, review due %s (24h before)", r.MeetingDue.Format(time.RFC3339), r.ReviewDue.Format(time.RFC3339))
	p("Messages sent about %s (%d; each one also in %s):", r.Epic.Key, len(r.Messages), r.MessagesDir)
	for _, m := range r.Messages {
		writeMessage(p, m)
		if m.Kind == "hold" && r.CalendarHold != nil {
			h := r.CalendarHold
			p("      calendar hold: DTSTART %s (%s), organizer %s, attendees %s", h.DTStart, h.Start.Format("Mon 2 Jan 15:04 MST"),
				h.Organizer, strings.Join(h.Attendees, ", "))
			p("      written to %s", h.File)
		}
	}
}

// writeEarlier prints the earlier post-mortems: how each went, its
// reminders and its messages.
func (r *demoReport) writeEarlier(p func(string, ...any)) {
	p("\nEarlier post-mortems, played first on the demo's clock set back (same server, same rules):")
	for _, e := range r.Earlier {
		p("  %s [%s] %s (#%d), owner %s, resolved %s:", e.Epic, e.Severity, e.Title, e.Number, e.Owner, e.ResolvedAt.Format("Mon 2 Jan 15:04 MST"))
		switch {
		case e.DaysToReviewed != nil:
			p("      %s %.1f days after it was made (its meeting was due %s)", e.Status, *e.DaysToReviewed, e.MeetingDue.Format("Mon 2 Jan 15:04 MST"))
		case e.Overdue:
			p("      %s, meeting was due %s: overdue, %d days late", e.Status, e.MeetingDue.Format("Mon 2 Jan 15:04 MST"), e.DaysLate)
		default:
			p("      %s, meeting due %s", e.Status, e.MeetingDue.Format("Mon 2 Jan 15:04 MST"))
		}
		if len(e.Reminders) > 0 {
			p("      reminders sent (%d), each a comment on %s that mentions the owner, and the messages below:", len(e.Reminders), e.Epic)
			for _, rm := range e.Reminders {
				p("        %s %d at %s: %s", rm.Kind, rm.N, rm.At.Format("Mon 2 Jan 15:04 MST"), rm.Comment)
			}
		}
		for _, f := range e.Followups {
			due := "no due date"
			if f.DueDate != "" {
				due = "due " + f.DueDate
			}
			p("      follow-up %s %s (%s, %s)", f.Key, f.Summary, due, f.Status)
			for _, rm := range f.Reminders {
				p("        reminded: %s", rm)
			}
		}
		for _, c := range e.Recurred {
			p("      recurred, said on %s: %s", e.Epic, c)
		}
		p("      messages (%d):", len(e.Messages))
		for _, m := range e.Messages {
			writeMessage(func(format string, args ...any) { p("      "+format, args...) }, m)
		}
	}
}

// writeTotals prints what the overview counts, the API calls the
// simulators received and any request they found against the specs.
func (r *demoReport) writeTotals(p func(string, ...any)) {
	o := r.Overview
	median := "none Reviewed in the last 90 days"
	if o.MedianDaysToReviewed != nil {
		median = fmt.Sprintf("%.1f days (of %d)", *o.MedianDaysToReviewed, o.Reviewed)
	}
	// The URL is dead once the demo has exited: --keep-running prints it.
	p("\nThe managers' overview (/postmortems; open it with --keep-running): %d open, %d in review, %d overdue; median time to Reviewed %s", o.Open, o.InReview, o.Overdue, median)
	var calls []string
	for _, sys := range slices.Sorted(mapKeysOf(r.Calls)) {
		var by []string
		for _, m := range slices.Sorted(mapKeysOf(r.Calls[sys])) {
			if m != "total" {
				by = append(by, fmt.Sprintf("%s %d", m, r.Calls[sys][m]))
			}
		}
		calls = append(calls, fmt.Sprintf("%s %d (%s)", sys, r.Calls[sys]["total"], strings.Join(by, ", ")))
	}
	p("API calls: %s", strings.Join(calls, ", "))
	if len(r.Violations) > 0 {
		p("Simulator violations: %s", strings.Join(r.Violations, "; "))
	}
}

// writeMessage prints one message on one line: channel, kind, recipients,
// subject.
func writeMessage(p func(string, ...any), m demoMessage) {
	to := strings.Join(m.To, ", ")
	if m.Channel == "slack" {
		to = "the webhook in " + to
	}
	p("  %-5s %-8s to %s: %s", m.Channel, m.Kind, to, m.Subject)
}

func mapKeysOf[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
