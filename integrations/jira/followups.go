package jira

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	gojira "github.com/andygrunwald/go-jira"

	"github.com/aftermath-dev/aftermath/internal/outbound"
)

// The status sync's side of the client: the epics of the open post-mortems
// and every ticket under them (those aftermath made and those people
// added), and the due date of a ticket a person added without one.

// Ticket is an issue under a post-mortem's epic, as the status sync reads it.
type Ticket struct {
	Key     string
	Epic    string // the epic it is under (parent on Cloud, Epic Link on Data Center)
	Summary string
	Status  string
	// Due is its due date, midnight UTC of that date; zero: none.
	Due      time.Time
	Assignee User // zero: unassigned; Email is "" where Jira hides it
	Created  time.Time
}

// EpicTickets is what one reading of a set of epics found.
type EpicTickets struct {
	// Statuses are the epics' statuses; an epic Jira no longer shows is
	// missing.
	Statuses map[string]string
	// Tickets are the issues under each epic, by epic, oldest first.
	Tickets map[string][]Ticket
}

// ticketPage is how many issues one search of the status sync asks for.
const ticketPage = 50

// epicsPerSearch bounds the epics one query names, so that the JQL (in the
// URL of Data Center's GET search) stays a few kilobytes; the answer is
// paged (ticketPage issues a page), so only the last page of each query
// may be short.
const epicsPerSearch = 100

// Tickets reads the epics and every issue under them in one paged query per
// 100 epics: "key in (epics) OR parent in (epics)" (Data Center: the Epic
// Link field instead of parent), 50 issues a page. So the searches are as
// many as the issues read divided by 50, rounded up, plus at most one per
// 100 epics beyond the first 100. An epic Jira no longer shows (deleted,
// or out of this account's sight) is missing from the answer, with no
// tickets: Jira refuses a query naming it, and the batch is searched again
// without it (withoutMissing), one search more.
func (c *Client) Tickets(ctx context.Context, epics []string) (EpicTickets, error) {
	out := EpicTickets{Statuses: map[string]string{}, Tickets: map[string][]Ticket{}}
	d, err := c.Deployment(ctx)
	if err != nil {
		return out, err
	}
	child, linkField := "parent", ""
	if d != Cloud {
		link, _, err := c.epicFields(ctx)
		var e *Error
		switch {
		case err == nil:
			linkField, child = link, `"Epic Link"`
			if n, ok := strings.CutPrefix(link, "customfield_"); ok {
				child = "cf[" + n + "]"
			}
		case errors.As(err, &e) && e.Op == opFindEpicFields:
			// A Jira without epic fields has no tickets under epics: the
			// epics' statuses are still read.
			child = ""
		default:
			return out, err
		}
	}
	fields := []string{"summary", "status", "duedate", "assignee", "created", "parent"}
	if linkField != "" {
		fields = append(fields, linkField)
	}
	for start := 0; start < len(epics); start += epicsPerSearch {
		err := c.withoutMissing(ctx, epics[start:min(start+epicsPerSearch, len(epics))], func(batch []string) error {
			return c.epicTickets(ctx, d, batch, child, linkField, fields, out)
		})
		if err != nil {
			return out, err
		}
	}
	for e := range out.Tickets {
		slices.SortStableFunc(out.Tickets[e], func(a, b Ticket) int { return a.Created.Compare(b.Created) })
	}
	return out, nil
}

// epicTickets reads one batch of epics and the issues under them (child
// is the JQL field of an issue's epic, "" none) into out, once the whole
// batch is read: a search refused on a later page adds nothing, so that it
// can be searched again.
func (c *Client) epicTickets(ctx context.Context, d string, batch []string, child, linkField string, fields []string, out EpicTickets) error {
	list := strings.Join(batch, ",")
	jql := fmt.Sprintf("key in (%s) OR %s in (%s) ORDER BY key ASC", list, child, list)
	if child == "" {
		jql = fmt.Sprintf("key in (%s) ORDER BY key ASC", list)
	}
	// What this client wrote to these epics moments ago is reconciled
	// (Cloud), as Statuses does: a stale status could undo a change.
	ids := c.recent.reconcile(c.cfg.Now(), func(key string, _ []string) bool { return slices.Contains(batch, key) })
	var read []Ticket
	err := c.searchPages(ctx, d, jql, fields, ids, func(is gojira.Issue) { read = append(read, ticketOf(is, d, linkField)) })
	if err != nil {
		return err
	}
	for _, t := range read {
		switch {
		case slices.Contains(batch, t.Key):
			out.Statuses[t.Key] = t.Status
		case t.Epic != "":
			out.Tickets[t.Epic] = append(out.Tickets[t.Epic], t)
		}
	}
	return nil
}

func ticketOf(is gojira.Issue, d, linkField string) Ticket {
	t := Ticket{Key: is.Key}
	f := is.Fields
	if f == nil {
		return t
	}
	t.Summary = f.Summary
	if f.Status != nil {
		t.Status = f.Status.Name
	}
	if due := time.Time(f.Duedate); !due.IsZero() {
		y, m, dd := due.Date()
		t.Due = time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
	}
	t.Created = time.Time(f.Created).UTC()
	if a := f.Assignee; a != nil {
		t.Assignee = User{ID: a.AccountID, DisplayName: a.DisplayName, Email: a.EmailAddress}
		if d != Cloud {
			t.Assignee.ID = a.Name
		}
	}
	if f.Parent != nil && d == Cloud {
		t.Epic = f.Parent.Key
	}
	if v, ok := f.Unknowns[linkField].(string); ok && linkField != "" {
		t.Epic = v
	}
	return t
}

// searchPages runs jql page by page (ticketPage issues a page) and calls
// each with every issue. Cloud pages by nextPageToken through POST
// /search/jql (which takes reconcileIssues as the spec has it); Data Center
// by startAt against the total.
func (c *Client) searchPages(ctx context.Context, d, jql string, fields []string, reconcile []int64, each func(gojira.Issue)) error {
	op := "search " + jql
	if d == Cloud {
		token := ""
		for {
			body := map[string]any{"jql": jql, "fields": fields, "maxResults": ticketPage}
			if len(reconcile) > 0 {
				body["reconcileIssues"] = reconcile
			}
			if token != "" {
				body["nextPageToken"] = token
			}
			var page struct {
				Issues        []gojira.Issue `json:"issues"`
				IsLast        bool           `json:"isLast"`
				NextPageToken string         `json:"nextPageToken"`
			}
			if err := c.do(outbound.AsRead(ctx), op, http.MethodPost, "rest/api/2/search/jql", body, &page); err != nil {
				return err
			}
			for _, is := range page.Issues {
				c.recent.learn(is.Key, is.ID)
				each(is)
			}
			if page.IsLast || page.NextPageToken == "" || len(page.Issues) == 0 {
				return nil
			}
			token = page.NextPageToken
		}
	}
	for start := 0; ; {
		issues, resp, err := c.api.Issue.SearchWithContext(ctx, jql, &gojira.SearchOptions{StartAt: start, MaxResults: ticketPage, Fields: fields})
		if err != nil {
			return c.goJiraError(ctx, op, resp, err)
		}
		for _, is := range issues {
			c.recent.learn(is.Key, is.ID)
			each(is)
		}
		start += len(issues)
		if len(issues) == 0 || resp == nil || start >= resp.Total {
			return nil
		}
	}
}

// DueDate reads an issue's due date (midnight UTC of it; found is false
// when it has none) from the issue itself, not the search, which may trail
// a change: what the status sync checks right before it sets one.
func (c *Client) DueDate(ctx context.Context, key string) (due time.Time, found bool, err error) {
	var out struct {
		Fields struct {
			Duedate *string `json:"duedate"`
		} `json:"fields"`
	}
	if err := c.do(ctx, "read the due date of "+key, http.MethodGet, "rest/api/2/issue/"+url.PathEscape(key)+"?fields=duedate", nil, &out); err != nil {
		return time.Time{}, false, err
	}
	if out.Fields.Duedate == nil || *out.Fields.Duedate == "" {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.DateOnly, *out.Fields.Duedate)
	if err != nil {
		return time.Time{}, false, &Error{Op: "read the due date of " + key, Message: "not a date: " + *out.Fields.Duedate}
	}
	return t, true, nil
}

// SetDueDate sets an issue's due date (the date of due, YYYY-MM-DD).
func (c *Client) SetDueDate(ctx context.Context, key string, due time.Time) error {
	if due.IsZero() {
		return errors.New("jira: set the due date of " + key + ": no date given")
	}
	return c.write(ctx, key, nil, "set the due date of "+key, http.MethodPut, "rest/api/2/issue/"+url.PathEscape(key),
		map[string]any{"fields": map[string]string{"duedate": due.Format(time.DateOnly)}})
}
