package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/aftermath-dev/aftermath/e2e/e2ekit"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
)

// jiraState is what Jira holds, indexed: the epics by incident label and
// the tickets by epic.
type jiraState struct {
	epicsOf map[string][]jiratest.Issue // by incident ID, from the epic's pagerduty-<ID> labels
	tickets map[string][]jiratest.Issue // by epic key
	epics   []jiratest.Issue
}

func readJira(s *e2ekit.Sims) jiraState {
	st := jiraState{epicsOf: map[string][]jiratest.Issue{}, tickets: map[string][]jiratest.Issue{}}
	for _, is := range s.Jira.Issues() {
		switch is.IssueType {
		case "Epic":
			st.epics = append(st.epics, is)
			for _, l := range is.Labels {
				if id, ok := strings.CutPrefix(l, "pagerduty-"); ok {
					st.epicsOf[id] = append(st.epicsOf[id], is)
				}
			}
		default:
			st.tickets[is.Parent] = append(st.tickets[is.Parent], is)
		}
	}
	return st
}

// groupEpics are the distinct epics labelled with any incident of group.
func (st jiraState) groupEpics(group []string) []jiratest.Issue {
	var out []jiratest.Issue
	for _, id := range group {
		for _, e := range st.epicsOf[id] {
			if !slices.ContainsFunc(out, func(o jiratest.Issue) bool { return o.Key == e.Key }) {
				out = append(out, e)
			}
		}
	}
	return out
}

// botNotes are aftermath's notes on an incident, but for its recurrence
// note (recurrenceNotes).
func botNotes(s *e2ekit.Sims, id string) []pagerdutytest.Note {
	var out []pagerdutytest.Note
	for _, n := range s.PD.Notes(id) {
		if n.UserID == bot && !strings.Contains(n.Content, recurrenceMarker) {
			out = append(out, n)
		}
	}
	return out
}

// recurrenceMarker ends the note saying an incident recurred an earlier
// post-mortem whose follow-ups are open. The scenario resolves many
// incidents on a few services within seconds, whose post-mortems' tickets
// stay open: which of them recur which depends on the order they are
// processed in, so the check is that none has more than one.
const recurrenceMarker = "[aftermath:recurrence:"

// recurrenceNotes are aftermath's recurrence notes on an incident.
func recurrenceNotes(s *e2ekit.Sims, id string) []pagerdutytest.Note {
	var out []pagerdutytest.Note
	for _, n := range s.PD.Notes(id) {
		if n.UserID == bot && strings.Contains(n.Content, recurrenceMarker) {
			out = append(out, n)
		}
	}
	return out
}

// message is a mail or a Slack post, reduced to who and what.
type message struct{ to, subject string }

func mails(t testing.TB, s *e2ekit.Sims) []message {
	var out []message
	dec := new(mime.WordDecoder)
	for _, m := range s.SMTP.Mails() {
		msg, err := mail.ReadMessage(strings.NewReader(m.Data))
		if err != nil {
			t.Errorf("a mail that does not parse: %v\n%s", err, m.Data)
			continue
		}
		subj, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			subj = msg.Header.Get("Subject")
		}
		out = append(out, message{to: strings.Join(m.To, ","), subject: subj})
	}
	return out
}

func slackPosts(s *e2ekit.Sims) []message {
	var out []message
	for _, p := range s.Slack.Posts() {
		out = append(out, message{to: "slack", subject: p.Text})
	}
	return out
}

// countKey counts the messages naming the epic key (PM-1, not PM-10).
func countKey(ms []message, key, prefix string) int {
	re := regexp.MustCompile(regexp.QuoteMeta(prefix+key) + `\b`)
	n := 0
	for _, m := range ms {
		if re.MatchString(m.subject) {
			n++
		}
	}
	return n
}

// missing lists what is not there yet, judged by the simulators alone:
// an epic per group with all its tickets, aftermath's note on every
// processed incident, and the messages of every post-mortem.
func (sc *scenario) missing(s *e2ekit.Sims) []string {
	st := readJira(s)
	var out []string
	for _, g := range sc.groups {
		epics := st.groupEpics(g)
		if len(epics) == 0 {
			out = append(out, "epic of "+strings.Join(g, "+"))
			continue
		}
		for _, id := range g {
			if len(botNotes(s, id)) == 0 {
				out = append(out, "note on "+id)
			}
		}
		sev := 2
		for _, id := range g {
			sev = min(sev, severity(sc.byID[id].Priority))
		}
		if len(st.tickets[epics[0].Key]) < len(sc.expectedFollowups(g, sev)) {
			out = append(out, "tickets of "+epics[0].Key)
		}
	}
	if n, want := len(s.SMTP.Mails()), 2*len(sc.groups); n < want {
		out = append(out, fmt.Sprintf("mails: %d of %d", n, want))
	}
	if n, want := len(s.Slack.Posts()), len(sc.groups); n < want {
		out = append(out, fmt.Sprintf("Slack posts: %d of %d", n, want))
	}
	return out
}

// result is what the summary prints.
type result struct {
	epics, tickets, notes, prioChanges, mails, slack int
	kills, redisRestarts                             int
	took                                             time.Duration
	toEpic                                           []time.Duration // webhook to epic, per group with a delivered webhook
	viaSweep                                         int             // incidents queued by the catch-up sweep
	lastDeliveredEpic                                time.Time       // the last epic made for a group with a delivered webhook
	start                                            time.Time       // when the incidents were resolved
}

// postmortemJSON is what GET /api/v1/postmortems says of one.
type postmortemJSON struct {
	Incident   string    `json:"incident"`
	Severity   string    `json:"severity"`
	Owner      string    `json:"owner"`
	EpicKey    string    `json:"epic_key"`
	MeetingDue time.Time `json:"meeting_due"`
	ReviewDue  time.Time `json:"review_due"`
	Group      []string  `json:"group"`
	Followups  []string  `json:"followups"`
}

// check asserts the outcome against the simulators (and, for the
// deadlines and the events, aftermath's admin API), exactly.
func check(t *testing.T, sc *scenario, s *e2ekit.Sims, rs *e2ekit.Replicas, sender *e2ekit.Sender, eventIDs map[string]string) result {
	t.Helper()
	var res result
	st := readJira(s)
	pms := postmortems(t, rs)
	ms, posts := mails(t, s), slackPosts(s)
	firstSent := map[string]time.Time{}
	acked := map[string]time.Time{}
	for _, d := range sender.Deliveries() {
		if f, ok := firstSent[d.Incident]; !ok || d.Sent.Before(f) {
			firstSent[d.Incident] = d.Sent
		}
		if d.Acked.IsZero() {
			t.Errorf("webhook of %s (copy %d) never acknowledged: %d attempts, last %s", d.Incident, d.Copy, d.Attempts, d.LastErr)
			continue
		}
		if a, ok := acked[d.Incident]; !ok || (d.Status == "queued" && d.Acked.Before(a)) {
			acked[d.Incident] = d.Acked
		}
	}

	for _, g := range sc.groups {
		epics := st.groupEpics(g)
		if len(epics) != 1 {
			t.Errorf("group %v: %d epics %v, want exactly one", g, len(epics), keys(epics))
			continue
		}
		epic := epics[0]
		res.epics++
		for _, id := range g {
			if !slices.Contains(epic.Labels, "pagerduty-"+id) {
				t.Errorf("epic %s of group %v lacks the label pagerduty-%s: %v", epic.Key, g, id, epic.Labels)
			}
		}
		pm, ok := pms[epic.Key]
		if !ok {
			t.Errorf("epic %s (group %v) is not in GET /api/v1/postmortems", epic.Key, g)
			continue
		}
		primary := sc.byID[pm.Incident]
		if primary == nil || !slices.Contains(g, pm.Incident) {
			t.Errorf("post-mortem %s names primary %q, not of its group %v", epic.Key, pm.Incident, g)
			continue
		}
		// Final severity: the group's highest, written on the primary
		// once when its priority was lower; nothing on the others.
		final := 2
		for _, id := range g {
			final = min(final, severity(sc.byID[id].Priority))
		}
		wantPrio := fmt.Sprintf("P%d", final)
		if !strings.HasPrefix(epic.Summary, fmt.Sprintf("[SEV-%d] Post-mortem: %s (#%d)", final, primary.Title, primary.Number)) {
			t.Errorf("epic %s summary %q: want SEV-%d and the primary %s", epic.Key, epic.Summary, final, primary.ID)
		}
		if pm.Severity != fmt.Sprintf("SEV-%d", final) {
			t.Errorf("post-mortem %s severity %s, want SEV-%d", epic.Key, pm.Severity, final)
		}
		for _, id := range g {
			changes := priorityChanges(s, id)
			res.prioChanges += len(changes)
			want := 0
			if id == primary.ID && primary.Priority != wantPrio {
				want = 1
			}
			if len(changes) != want || (want == 1 && changes[0] != primary.Priority+"->"+wantPrio) {
				t.Errorf("incident %s (primary %s of %v): priority changes %v, want %d to %s", id, primary.ID, g, changes, want, wantPrio)
			}
			if inc, _ := s.PD.Incident(id); id == primary.ID && inc.Priority != wantPrio {
				t.Errorf("primary %s ends at priority %s, want %s", id, inc.Priority, wantPrio)
			}
		}
		// The tickets: the standard ones and one per distinct TODO.
		var got []string
		for _, tk := range st.tickets[epic.Key] {
			got = append(got, tk.Summary)
		}
		sort.Strings(got)
		res.tickets += len(got)
		if want := sc.expectedFollowups(g, final); !slices.Equal(got, want) {
			t.Errorf("epic %s tickets %q, want %q", epic.Key, got, want)
		}
		// Aftermath's notes: one on each incident of the group.
		for _, id := range g {
			notes := botNotes(s, id)
			res.notes += len(notes)
			if rec := recurrenceNotes(s, id); len(rec) > 1 {
				t.Errorf("incident %s: %d recurrence notes, want at most one: %q", id, len(rec), contents(rec))
			}
			if len(notes) != 1 || !strings.Contains(notes[0].Content, epic.Key) {
				t.Errorf("incident %s: aftermath's notes %q, want one naming %s", id, contents(notes), epic.Key)
			}
		}
		// Deadlines: from the primary's resolution, in Jira and the API.
		inc, _ := s.PD.Incident(primary.ID)
		due := meetingDue(final, inc.ResolvedAt)
		// PagerDuty's REST times are in seconds, its webhooks' in
		// milliseconds: the resolve time is the webhook's when it is fresh.
		if !pm.MeetingDue.Equal(due.Truncate(time.Second)) && !pm.MeetingDue.Equal(due.Truncate(time.Millisecond)) && !pm.MeetingDue.Equal(due) {
			t.Errorf("post-mortem %s meeting due %s, want %s (resolved %s)", epic.Key, pm.MeetingDue, due, inc.ResolvedAt)
		}
		if !pm.ReviewDue.Equal(pm.MeetingDue.Add(-24 * time.Hour)) {
			t.Errorf("post-mortem %s review due %s, want a day before the meeting %s", epic.Key, pm.ReviewDue, pm.MeetingDue)
		}
		if epic.DueDate != due.Format("2006-01-02") {
			t.Errorf("epic %s due date %s, want %s", epic.Key, epic.DueDate, due.Format("2006-01-02"))
		}
		if epic.Assignee != primary.Resolver.jiraID || pm.Owner != primary.Resolver.email {
			t.Errorf("epic %s assignee %q, owner %q; want %s (%s), who resolved %s", epic.Key, epic.Assignee, pm.Owner,
				primary.Resolver.jiraID, primary.Resolver.email, primary.ID)
		}
		// The messages: the creation mail to the list, the hold to the
		// owner, one Slack post.
		var toList, toOwner []message
		for _, m := range ms {
			switch m.to {
			case "sre@example.com":
				toList = append(toList, m)
			case primary.Resolver.email:
				toOwner = append(toOwner, m)
			}
		}
		if n := countKey(toList, epic.Key, "Post-mortem "); n != 1 {
			t.Errorf("post-mortem %s: %d creation mails to the list, want 1", epic.Key, n)
		}
		if n := countKey(toOwner, epic.Key, "Meeting hold: Post-mortem "); n != 1 {
			t.Errorf("post-mortem %s: %d meeting holds to %s, want 1", epic.Key, n, primary.Resolver.email)
		}
		if n := countKey(posts, epic.Key, "post-mortem "); n != 1 {
			t.Errorf("post-mortem %s: %d Slack posts, want 1", epic.Key, n)
		}
		// Webhook to epic, when a webhook of the group was delivered.
		var first time.Time
		for _, id := range g {
			if f, ok := firstSent[id]; ok && (first.IsZero() || f.Before(first)) {
				first = f
			}
		}
		if !first.IsZero() {
			res.toEpic = append(res.toEpic, epic.Created.Sub(first))
			if epic.Created.After(res.lastDeliveredEpic) {
				res.lastDeliveredEpic = epic.Created
			}
		}
	}
	if len(st.epics) != len(sc.groups) || len(pms) != len(sc.groups) {
		t.Errorf("%d epics in Jira and %d post-mortems in the API, want %d (one per group)", len(st.epics), len(pms), len(sc.groups))
	}
	res.mails, res.slack = len(ms), len(posts)
	if len(ms) != 2*len(sc.groups) || len(posts) != len(sc.groups) {
		t.Errorf("%d mails and %d Slack posts, want %d and %d", len(ms), len(posts), 2*len(sc.groups), len(sc.groups))
	}

	// SEV-3: nothing written anywhere, but at most one recurrence note.
	for _, id := range sc.sev3 {
		if rec := recurrenceNotes(s, id); len(rec) > 1 {
			t.Errorf("SEV-3 %s: %d recurrence notes, want at most one: %q", id, len(rec), contents(rec))
		}
		if n := botNotes(s, id); len(n) > 0 || len(priorityChanges(s, id)) > 0 || len(st.epicsOf[id]) > 0 {
			t.Errorf("SEV-3 %s was touched: notes %q, priority changes %v, epics %v", id, contents(n), priorityChanges(s, id), keys(st.epicsOf[id]))
		}
	}

	// Events: every acknowledged webhook was processed; the catch-up
	// sweep queued exactly the incidents whose webhook was never sent, and
	// no incident after its webhook was acknowledged (that would be an
	// acknowledged webhook lost).
	for _, in := range sc.incidents {
		rec := incidentRecord(t, rs, in.ID)
		missed := "aftermath-missed-resolution-" + in.ID
		var webhook, sweep *eventRecord
		for i, ev := range rec.Events {
			switch ev.EventID {
			case eventIDs[in.ID]:
				webhook = &rec.Events[i]
			case missed:
				sweep = &rec.Events[i]
			}
		}
		if sweep != nil {
			res.viaSweep++
		}
		switch {
		case in.Unsent:
			if sweep == nil || sweep.ProcessedAt.IsZero() {
				t.Errorf("%s, whose webhook was never sent: the catch-up sweep did not queue and process it (events %+v)", in.ID, rec.Events)
			}
		default:
			if webhook == nil || webhook.ProcessedAt.IsZero() {
				t.Errorf("%s: its acknowledged webhook (event %s) is not processed: events %+v", in.ID, eventIDs[in.ID], rec.Events)
			}
			if a, ok := acked[in.ID]; ok && sweep != nil && sweep.ReceivedAt.After(a) {
				t.Errorf("%s: the catch-up sweep queued it at %s although its webhook was acknowledged at %s: the acknowledged webhook was lost",
					in.ID, sweep.ReceivedAt, a)
			}
		}
	}
	if code, body := rs.Get(context.Background(), 0, "/api/v1/dead-letters"); code != 200 || strings.Contains(string(body), `"id"`) {
		t.Errorf("dead letters: %d %s", code, body)
	}
	if v := s.Violations(); len(v) > 0 {
		t.Errorf("requests the official specs refuse: %q", v)
	}
	return res
}

// priorityChanges are the priority changes aftermath made, "P2->P1".
func priorityChanges(s *e2ekit.Sims, id string) []string {
	var out []string
	for _, e := range s.PD.LogEntries(id) {
		if e.Type == pagerdutytest.PriorityChangeLogEntry && e.AgentID == bot {
			out = append(out, e.OldPriority+"->"+e.NewPriority)
		}
	}
	return out
}

type eventRecord struct {
	EventID     string    `json:"event_id"`
	ReceivedAt  time.Time `json:"received_at"`
	ProcessedAt time.Time `json:"processed_at"`
}

type incidentRec struct {
	Events []eventRecord `json:"events"`
}

func incidentRecord(t *testing.T, rs *e2ekit.Replicas, id string) incidentRec {
	t.Helper()
	code, body := rs.Get(context.Background(), 1, "/api/v1/incidents/"+url.PathEscape(id))
	var rec incidentRec
	if err := json.Unmarshal(body, &rec); code != 200 || err != nil {
		t.Errorf("GET /api/v1/incidents/%s: %d %v %s", id, code, err, body)
	}
	return rec
}

// postmortems reads GET /api/v1/postmortems, every page, by epic key.
func postmortems(t *testing.T, rs *e2ekit.Replicas) map[string]postmortemJSON {
	t.Helper()
	out := map[string]postmortemJSON{}
	cursor := ""
	for {
		path := "/api/v1/postmortems?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		code, body := rs.Get(context.Background(), 2, path)
		var page struct {
			Postmortems []postmortemJSON `json:"postmortems"`
			NextCursor  string           `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); code != 200 || err != nil {
			t.Fatalf("GET %s: %d %v %s", path, code, err, body)
		}
		for _, p := range page.Postmortems {
			if _, dup := out[p.EpicKey]; dup {
				t.Errorf("post-mortem %s listed twice", p.EpicKey)
			}
			out[p.EpicKey] = p
		}
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

func keys(is []jiratest.Issue) []string {
	var out []string
	for _, i := range is {
		out = append(out, i.Key)
	}
	return out
}

func contents(ns []pagerdutytest.Note) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Content)
	}
	return out
}

// table is the run's summary.
func (r result) table(sc *scenario, s *e2ekit.Sims, sender *e2ekit.Sender) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	row := func(k, v string, args ...any) { fmt.Fprintf(w, "  %s\t"+v+"\n", append([]any{k}, args...)...) }
	processed, several, unsent := 0, 0, 0
	for _, g := range sc.groups {
		processed += len(g)
		if len(g) > 1 {
			several++
		}
	}
	for _, in := range sc.incidents {
		if in.Unsent {
			unsent++
		}
	}
	ss := sender.Stats()
	row("incidents", "%d processed, %d SEV-3, %d webhooks never sent (%d incidents queued by the catch-up sweep)", processed, len(sc.sev3), unsent, r.viaSweep)
	row("groups", "%d (%d of several incidents)", len(sc.groups), several)
	row("epics", "%d", r.epics)
	row("follow-up tickets", "%d", r.tickets)
	row("notes", "%d", r.notes)
	row("priority changes", "%d", r.prioChanges)
	row("mails / Slack posts", "%d / %d", r.mails, r.slack)
	row("webhook deliveries", "%d sent (%d copies each), %d acknowledged, %d given up; %d attempts, refused %v, %d without answer",
		ss.Deliveries, copies, ss.Acknowledged, ss.GaveUp, ss.Attempts, ss.Refused, ss.ConnErrors)
	row("replica kills (SIGKILL)", "%d", r.kills)
	row("Redis restarts", "%d", r.redisRestarts)
	for _, p := range []struct {
		name string
		px   *e2ekit.Proxy
	}{{"PagerDuty", s.PDProxy}, {"Jira", s.JiraProxy}} {
		st := p.px.Stats()
		row(p.name+" requests", "%d; injected %v", st.Requests, st.Injected)
	}
	row("time to all done", "%s (the never-sent incidents wait for the catch-up sweep's 2-minute settle)", r.took.Round(100*time.Millisecond))
	row("last epic of a delivered group", "%s after the resolutions", r.lastDeliveredEpic.Sub(r.start).Round(100*time.Millisecond))
	row("webhook to epic", "p50 %s, p99 %s (%d groups)", pct(r.toEpic, 50), pct(r.toEpic, 99), len(r.toEpic))
	w.Flush()
	return b.String()
}

// pct is the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s) + 99) / 100
	return s[max(i-1, 0)].Round(10 * time.Millisecond)
}
