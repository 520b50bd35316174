package jirasim

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Search bounds: enhanced search (Cloud) returns up to 5,000 issues a page
// when only ids are asked for and 100 otherwise; Data Center's default
// jira.search.views.default.max is 1,000.
const (
	defaultPage      = 50
	cloudMaxIDs      = 5000
	cloudMaxFields   = 100
	dataCenterMaxHit = 1000
)

// removedSearch is Cloud's answer to /rest/api/{2,3}/search since August 2025.
const removedSearch = "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"

// searchParams are the parameters of both searches, from the query string
// (GET) or the body (POST).
type searchParams struct {
	JQL           string   `json:"jql"`
	StartAt       int      `json:"startAt"`
	MaxResults    *int     `json:"maxResults"`
	NextPageToken string   `json:"nextPageToken"`
	Fields        []string `json:"fields"`
	// ReconcileIssues are issue ids whose latest state search must reflect
	// (Cloud's read-after-write for up to maxReconcile issues).
	ReconcileIssues []int64 `json:"reconcileIssues"`
}

// maxReconcile is the most issue ids /search/jql reconciles.
const maxReconcile = 50

func readSearch(rq *request) (searchParams, *reply) {
	var p searchParams
	if rq.r.Method == http.MethodPost {
		if err := json.Unmarshal(rq.body, &p); err != nil {
			r := errorMessages(http.StatusBadRequest, invalidPayload)
			return p, &r
		}
		return p, nil
	}
	q := rq.r.URL.Query()
	p.JQL, p.NextPageToken, p.Fields = q.Get("jql"), q.Get("nextPageToken"), q["fields"]
	for _, v := range q["reconcileIssues"] {
		for _, id := range strings.Split(v, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
			if err != nil {
				r := errorMessages(http.StatusBadRequest, "The value '"+v+"' is not valid for the parameter 'reconcileIssues'.")
				return p, &r
			}
			p.ReconcileIssues = append(p.ReconcileIssues, n)
		}
	}
	num := func(name string) (int, bool, *reply) {
		v := q.Get(name)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			r := errorMessages(http.StatusBadRequest, "The value '"+v+"' is not valid for the parameter '"+name+"'.")
			return 0, false, &r
		}
		return n, true, nil
	}
	n, _, bad := num("startAt")
	if bad != nil {
		return p, bad
	}
	p.StartAt = n
	n, set, bad := num("maxResults")
	if bad != nil {
		return p, bad
	}
	if set {
		p.MaxResults = &n
	}
	return p, nil
}

// run parses, resolves and evaluates jql over the indexed issues, ordered;
// the issues with the ids in reconcile are taken as they are now, however
// recently they changed.
func (s *Server) run(jql string, now time.Time, reconcile []int64) ([]*Issue, *reply) {
	q, err := parseJQL(jql, s.mode)
	if err == nil {
		err = s.resolve(&q)
	}
	if err != nil {
		var je *jqlError
		msgs := []string{err.Error()}
		if errors.As(err, &je) {
			msgs = append([]string{je.msg}, je.more...)
		}
		r := errorMessages(http.StatusBadRequest, msgs...)
		return nil, &r
	}
	fresh := map[string]bool{}
	for _, id := range reconcile {
		fresh[strconv.FormatInt(id, 10)] = true
	}
	var hits []*Issue
	for _, x := range s.issues {
		v := &x.Issue
		if !fresh[x.ID] {
			v = s.indexed(x, now)
		}
		if v != nil && q.matches(v, s.mode) {
			hits = append(hits, v)
		}
	}
	order := q.order
	if len(order) == 0 {
		order = []jqlOrder{{field: "created"}}
	}
	seq := func(v *Issue) int { n, _ := strconv.Atoi(v.ID); return n }
	slices.SortStableFunc(hits, func(a, b *Issue) int {
		for _, o := range order {
			var c int
			switch o.field {
			case "created":
				c = cmp.Or(a.Created.Compare(b.Created), cmp.Compare(seq(a), seq(b)))
			case "updated":
				c = a.Updated.Compare(b.Updated)
			case "key":
				pa, na, _ := strings.Cut(a.Key, "-")
				pb, nb, _ := strings.Cut(b.Key, "-")
				ia, _ := strconv.Atoi(na)
				ib, _ := strconv.Atoi(nb)
				c = cmp.Or(strings.Compare(pa, pb), cmp.Compare(ia, ib))
			}
			if o.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return cmp.Compare(seq(a), seq(b))
	})
	return hits, nil
}

// searchCloud is Cloud's enhanced search, GET and POST /search/jql: pages
// linked by an opaque nextPageToken, isLast on the last one, no total, and
// only ids unless fields are asked for. Data Center has no such resource.
func (s *Server) searchCloud(rq *request) reply {
	if s.mode == DataCenter {
		return reply{Status: http.StatusNotFound, Body: map[string]any{"message": "null for uri: " + s.base + rq.r.URL.RequestURI(), "status-code": http.StatusNotFound}}
	}
	p, bad := readSearch(rq)
	if bad != nil {
		return *bad
	}
	if q, err := parseJQL(p.JQL, s.mode); err == nil && len(q.clauses) == 0 {
		return errorMessages(http.StatusBadRequest, unbounded)
	}
	if len(p.ReconcileIssues) > maxReconcile {
		return errorMessages(http.StatusBadRequest, "reconcileIssues accepts at most "+strconv.Itoa(maxReconcile)+" issue ids.")
	}
	offset := 0
	if p.NextPageToken != "" {
		var ok bool
		if offset, ok = decodePageToken(p.NextPageToken); !ok {
			return errorMessages(http.StatusBadRequest, "The provided next page token is invalid or expired.")
		}
	}
	fs := parseFieldSet(p.Fields, "id")
	size := defaultPage
	if p.MaxResults != nil && *p.MaxResults > 0 {
		size = *p.MaxResults
	}
	if fs.empty() {
		size = min(size, cloudMaxIDs)
	} else {
		size = min(size, cloudMaxFields)
	}
	hits, bad := s.run(p.JQL, rq.at, p.ReconcileIssues)
	if bad != nil {
		return *bad
	}
	end := min(offset+size, len(hits))
	out := []any{}
	for i := min(offset, len(hits)); i < end; i++ {
		out = append(out, s.issueJSON(hits[i], fs))
	}
	body := map[string]any{"issues": out, "isLast": end >= len(hits)}
	if end < len(hits) {
		body["nextPageToken"] = encodePageToken(end)
	}
	return okReply(body)
}

func encodePageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("jiratest:" + strconv.Itoa(offset)))
}

func decodePageToken(tok string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "jiratest:"))
	if err != nil || n < 0 || !strings.HasPrefix(string(b), "jiratest:") {
		return 0, false
	}
	return n, true
}

// searchDC is GET and POST /search: startAt/maxResults pages with a total,
// navigable fields by default. Cloud removed it and answers 410.
func (s *Server) searchDC(rq *request) reply {
	if s.mode == Cloud {
		return errorMessages(http.StatusGone, removedSearch)
	}
	p, bad := readSearch(rq)
	if bad != nil {
		return *bad
	}
	if p.StartAt < 0 {
		return errorMessages(http.StatusBadRequest, "The value '"+strconv.Itoa(p.StartAt)+"' is not valid for the parameter 'startAt'.")
	}
	size := defaultPage
	if p.MaxResults != nil && *p.MaxResults >= 0 {
		size = *p.MaxResults
	}
	size = min(size, dataCenterMaxHit)
	// Data Center's search is consistent and has no reconcileIssues.
	hits, bad := s.run(p.JQL, rq.at, nil)
	if bad != nil {
		return *bad
	}
	fs := parseFieldSet(p.Fields, "*navigable")
	out := []any{}
	for i := p.StartAt; i < len(hits) && len(out) < size; i++ {
		out = append(out, s.issueJSON(hits[i], fs))
	}
	return okReply(map[string]any{"expand": "schema,names", "startAt": p.StartAt, "maxResults": size, "total": len(hits), "issues": out})
}
