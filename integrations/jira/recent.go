package jira

import (
	"cmp"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Cloud's /search/jql is eventually consistent: an issue created or changed
// moments ago may be missing from its answers, or shown as it was. Jira
// reconciles up to 50 issues a search, named by id (reconcileIssues).
// recentWrites remembers the issues this client wrote lately, with their
// ids and labels, so that the searches that must see them (a post-mortem's
// issues by incident label, the statuses of epics) name them. Another
// replica's writes are not known here; for those the workflow waits out
// the search lag before trusting a search that did not find what an
// unanswered write may have made.

const (
	// reconcileWindow is how long a write is reconciled: far longer than
	// Jira's index takes, which is seconds and rarely minutes.
	reconcileWindow = 15 * time.Minute
	// maxReconcile is the most issue ids one search reconciles.
	maxReconcile = 50
	// maxKnownIDs bounds the key → id map learned from answers.
	maxKnownIDs = 10000
)

type recentWrites struct {
	mu     sync.Mutex
	ids    map[string]int64 // issue key → id, from creates and searches
	writes map[string]recentWrite
}

type recentWrite struct {
	labels []string
	at     time.Time
}

// learn notes an issue's id.
func (r *recentWrites) learn(key, id string) {
	n, err := strconv.ParseInt(id, 10, 64)
	if key == "" || err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = map[string]int64{}
	}
	if len(r.ids) >= maxKnownIDs {
		// Forget the ids of issues not written lately: they are reconciled
		// no more.
		for k := range r.ids {
			if _, ok := r.writes[k]; !ok {
				delete(r.ids, k)
			}
		}
	}
	r.ids[key] = n
}

// created notes an issue this client created.
func (r *recentWrites) created(key, id string, labels []string, at time.Time) {
	r.learn(key, id)
	r.changed(key, labels, at)
}

// changed notes a write to an issue, with the labels it added.
func (r *recentWrites) changed(key string, labels []string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.writes == nil {
		r.writes = map[string]recentWrite{}
	}
	for k, w := range r.writes {
		if at.Sub(w.at) > reconcileWindow {
			delete(r.writes, k)
		}
	}
	w := r.writes[key]
	w.labels = append(w.labels, labels...)
	w.at = at
	r.writes[key] = w
}

// reconcile returns the ids of the issues written within reconcileWindow
// before now that match, the latest written first, at most maxReconcile.
func (r *recentWrites) reconcile(now time.Time, match func(key string, labels []string) bool) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	type hit struct {
		id int64
		at time.Time
	}
	var hits []hit
	for k, w := range r.writes {
		id, known := r.ids[k]
		if known && now.Sub(w.at) <= reconcileWindow && match(k, w.labels) {
			hits = append(hits, hit{id, w.at})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Or(b.at.Compare(a.at), cmp.Compare(a.id, b.id)) })
	ids := make([]int64, 0, min(len(hits), maxReconcile))
	for _, h := range hits[:min(len(hits), maxReconcile)] {
		ids = append(ids, h.id)
	}
	if len(ids) == 0 {
		return nil
	}
	return ids
}
