package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira/jirasim"
	"github.com/aftermath-dev/aftermath/store"
	"github.com/aftermath-dev/aftermath/workflow"
)

// DemoAdvanceOptions tune DemoAdvance.
type DemoAdvanceOptions struct {
	// Dir is the running demo's directory, which holds its demo.json.
	Dir string
	// To is where the epic goes: "in-review" or "reviewed".
	To string
	// Epic is the epic to move (default: the demo's post-mortem).
	Epic string
	// Wait bounds the wait for what aftermath does (20s).
	Wait time.Duration
}

// DemoTargets are the statuses `demo advance --to` takes, and the Jira
// status each moves the epic to.
var DemoTargets = map[string]string{"in-review": jirasim.StatusInReview, "reviewed": jirasim.StatusReviewed}

// ErrNoDemo is a directory where no demo keeps running.
var ErrNoDemo = errors.New("no demo keeps running there")

// DemoAdvance moves an epic of a demo kept running (demo --keep-running)
// to In Review or Reviewed, as a person would in Jira (a transition in
// the Jira simulator), sends the webhook Jira sends on that change, and
// prints what aftermath did about it: at In Review the language review's
// comment on the epic, at Reviewed the Reviewed messages (email and Slack,
// read from the demo's messages folder) and the end of the reminders.
func DemoAdvance(ctx context.Context, o DemoAdvanceOptions, stdout io.Writer) error {
	target, ok := DemoTargets[o.To]
	if !ok {
		return fmt.Errorf("--to %q: want in-review or reviewed", o.To)
	}
	if o.Wait <= 0 {
		o.Wait = 20 * time.Second
	}
	st, err := readDemoState(o.Dir)
	if err != nil {
		return err
	}
	epic := st.Epic
	if o.Epic != "" {
		epic = o.Epic
	}
	a := demoClient{st: st}
	incident, err := a.incidentOf(ctx, epic)
	if err != nil {
		return err
	}
	current, err := a.jiraStatus(ctx, epic)
	if err != nil {
		return err
	}
	if current == target {
		fmt.Fprintf(stdout, "%s is %s already: nothing to move.\n", epic, target)
		return nil
	}
	before, _ := os.ReadDir(st.MessagesDir)
	var was store.IncidentRecord
	if err := a.do(ctx, http.MethodGet, st.Aftermath+"/api/v1/incidents/"+url.PathEscape(incident), false, nil, &was); err != nil {
		return err
	}
	if err := a.transition(ctx, epic, target); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Moved %s from %s to %s in the Jira simulator.\n", epic, current, target)
	outcome, err := sendJiraWebhook(ctx, st.Aftermath, st.JiraWebhookSecret, epic, target, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Sent Jira's webhook (jira:issue_updated, signed): aftermath answered %q.\n", outcome)

	ctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	rec, err := a.waitJob(ctx, incident, "status-"+incident+"-"+target)
	if err != nil {
		return err
	}
	if target == jirasim.StatusInReview {
		return a.printLanguageReview(ctx, stdout, epic, incident, rec)
	}
	return printReviewed(stdout, epic, was, rec, st.MessagesDir, before)
}

func readDemoState(dir string) (demoState, error) {
	var st demoState
	if dir == "" {
		return st, fmt.Errorf("%w: --dir is required (the directory demo --keep-running printed)", ErrNoDemo)
	}
	b, err := os.ReadFile(filepath.Join(dir, demoStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("%w: %s has no %s (start one with: aftermath demo --keep-running --dir %s)", ErrNoDemo, dir, demoStateFile, shellQuote(dir))
	}
	if err != nil {
		return st, fmt.Errorf("read the demo's state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Aftermath == "" || st.JiraURL == "" || st.Epic == "" {
		return st, fmt.Errorf("%s is not a demo's state", filepath.Join(dir, demoStateFile))
	}
	return st, nil
}

// demoClient talks to a running demo: aftermath's admin API and the Jira
// simulator, with the demo's credentials.
type demoClient struct{ st demoState }

// do sends a request and decodes a 2xx answer's JSON into out (nil: none).
func (a demoClient) do(ctx context.Context, method, u string, jira bool, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if jira {
		req.SetBasicAuth(a.st.JiraEmail, a.st.JiraAPIToken)
	} else {
		req.Header.Set("Authorization", "Bearer "+a.st.AdminToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: is the demo still running? %w", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(b[:min(len(b), 300)]))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	return nil
}

// incidentOf is the incident whose post-mortem the epic is, from the
// overview's API.
func (a demoClient) incidentOf(ctx context.Context, epic string) (string, error) {
	var page struct {
		Postmortems []struct {
			Incident string `json:"incident"`
			EpicKey  string `json:"epic_key"`
		} `json:"postmortems"`
	}
	if err := a.do(ctx, http.MethodGet, a.st.Aftermath+"/api/v1/postmortems?limit=200", false, nil, &page); err != nil {
		return "", err
	}
	var keys []string
	for _, p := range page.Postmortems {
		if strings.EqualFold(p.EpicKey, epic) {
			return p.Incident, nil
		}
		keys = append(keys, p.EpicKey)
	}
	return "", fmt.Errorf("%s is not a post-mortem of the demo's: those are %s", epic, strings.Join(keys, ", "))
}

func (a demoClient) jiraStatus(ctx context.Context, key string) (string, error) {
	var is struct {
		Fields struct {
			Status struct {
				Name string `json:"name"`
			} `json:"status"`
		} `json:"fields"`
	}
	err := a.do(ctx, http.MethodGet, a.st.JiraURL+"/rest/api/2/issue/"+url.PathEscape(key)+"?fields=status", true, nil, &is)
	return is.Fields.Status.Name, err
}

// transition moves the issue to the status through the transition that
// leads there, as Jira's UI does.
func (a demoClient) transition(ctx context.Context, key, status string) error {
	var ts struct {
		Transitions []struct {
			ID string `json:"id"`
			To struct {
				Name string `json:"name"`
			} `json:"to"`
		} `json:"transitions"`
	}
	u := a.st.JiraURL + "/rest/api/2/issue/" + url.PathEscape(key) + "/transitions"
	if err := a.do(ctx, http.MethodGet, u, true, nil, &ts); err != nil {
		return err
	}
	for _, t := range ts.Transitions {
		if t.To.Name == status {
			return a.do(ctx, http.MethodPost, u, true, map[string]any{"transition": map[string]string{"id": t.ID}}, nil)
		}
	}
	return fmt.Errorf("no transition of %s to %s in Jira", key, status)
}

// waitJob waits for aftermath to process the job with this event ID and
// returns the incident's record then.
func (a demoClient) waitJob(ctx context.Context, incident, eventID string) (store.IncidentRecord, error) {
	for {
		var rec store.IncidentRecord
		if err := a.do(ctx, http.MethodGet, a.st.Aftermath+"/api/v1/incidents/"+url.PathEscape(incident), false, nil, &rec); err != nil {
			return rec, err
		}
		for _, at := range rec.Attempts {
			if at.EventID != eventID {
				continue
			}
			switch at.Outcome {
			case store.OutcomeDone:
				return rec, nil
			case store.OutcomeDeadLettered:
				return rec, fmt.Errorf("aftermath gave up on %s: %s", eventID, at.Error)
			}
		}
		select {
		case <-ctx.Done():
			return rec, fmt.Errorf("aftermath did not process %s in time: %w", eventID, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func recordStep(rec store.IncidentRecord, name string) (store.StepRecord, bool) {
	i := slices.IndexFunc(rec.Steps, func(s store.StepRecord) bool { return s.Name == name })
	if i < 0 {
		return store.StepRecord{}, false
	}
	return rec.Steps[i], true
}

// printLanguageReview prints the language review's comment on the epic, or
// why there is none.
func (a demoClient) printLanguageReview(ctx context.Context, w io.Writer, epic, incident string, rec store.IncidentRecord) error {
	step, ok := recordStep(rec, workflow.StepLanguageReview)
	switch {
	case !ok:
		fmt.Fprintf(w, "aftermath recorded no language review for %s.\n", incident)
		return nil
	case step.Status != store.StepDone:
		fmt.Fprintf(w, "Language review: %s: %s\n", step.Status, step.Detail)
		return nil
	}
	var cs struct {
		Comments []struct {
			Body string `json:"body"`
		} `json:"comments"`
	}
	if err := a.do(ctx, http.MethodGet, a.st.JiraURL+"/rest/api/2/issue/"+url.PathEscape(epic)+"/comment", true, nil, &cs); err != nil {
		return err
	}
	for _, c := range slices.Backward(cs.Comments) {
		if !strings.Contains(c.Body, "aftermath-ref-language-"+incident) {
			continue
		}
		fmt.Fprintf(w, "aftermath's language review on %s, a comment written once (it never edits the page):\n", epic)
		for _, line := range strings.Split(strings.TrimSpace(c.Body), "\n") {
			if !strings.HasPrefix(line, "aftermath-ref-") {
				fmt.Fprintf(w, "  | %s\n", line)
			}
		}
		return nil
	}
	fmt.Fprintf(w, "Language review: %s (%s), but no comment of it on %s.\n", step.Status, step.Detail, epic)
	return nil
}

// printReviewed prints the messages that arrived in the messages folder
// since before (the Reviewed message, by email and Slack), and what became
// of the reminders: was is the record before the move.
func printReviewed(w io.Writer, epic string, was, rec store.IncidentRecord, dir string, before []os.DirEntry) error {
	seen := map[string]bool{}
	for _, e := range before {
		seen[e.Name()] = true
	}
	after, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read the messages: %w", err)
	}
	var lines []string
	for _, e := range after {
		if seen[e.Name()] {
			continue
		}
		path := filepath.Join(dir, e.Name())
		switch filepath.Ext(e.Name()) {
		case ".eml":
			to, subject := mailHead(path)
			lines = append(lines, fmt.Sprintf("  email to %s: %s  (%s)", to, subject, path))
		case ".json":
			lines = append(lines, fmt.Sprintf("  slack to the webhook in %s: %s  (%s)", demoSlackEnv, slackText(path), path))
		}
	}
	fmt.Fprintf(w, "The Reviewed message went out (%d):\n", len(lines))
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	if step, ok := recordStep(rec, workflow.StepLiaison); ok {
		fmt.Fprintf(w, "Customer liaison: %s: %s\n", step.Status, step.Detail)
	}
	if pm := rec.Postmortem; pm != nil {
		fmt.Fprintf(w, "Reminders stop: %s is %s; %s\n", epic, pm.Status, reminderState(was.Postmortem, pm))
	}
	return nil
}

// reminderState says what was scheduled before the move and what is now.
func reminderState(was, now *store.Deadline) string {
	at := func(d *store.Deadline) string {
		return fmt.Sprintf("the %s reminder due %s", d.NextReminder, d.NextAt.UTC().Format("Mon 2 Jan 15:04 MST"))
	}
	before := "none was scheduled before"
	if was != nil && was.NextReminder != "" {
		before = "before the move " + at(was) + " was scheduled"
	}
	if now.NextReminder != "" {
		return before + "; " + at(now) + " will find it " + now.Status + " and send nothing."
	}
	return before + "; none is now."
}

// mailHead reads a kept message's recipients and subject.
func mailHead(path string) (to, subject string) {
	f, err := os.Open(path)
	if err != nil {
		return "?", err.Error()
	}
	defer f.Close()
	m, err := netmail.ReadMessage(f)
	if err != nil {
		return "?", err.Error()
	}
	subject = m.Header.Get("Subject")
	if d, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
		subject = d
	}
	return m.Header.Get("To"), subject
}

// slackText reads a kept Slack post's text.
func slackText(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var m struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(b, &m)
	return firstLine(m.Text)
}
