package workflow

import (
	"context"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/jira"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/store"
)

// The workflow owns the interfaces of what it needs; the integrations and the
// store implement them (the app checks that they do).

// PagerDuty is what the workflow needs of PagerDuty.
type PagerDuty interface {
	StatusPages // status_page.go
	Incident(ctx context.Context, id string) (pagerduty.Incident, error)
	Incidents(ctx context.Context, serviceIDs []string, since, until time.Time) ([]pagerduty.Incident, error)
	Related(ctx context.Context, id string) ([]string, error)
	LogEntries(ctx context.Context, id string, overview bool) ([]pagerduty.LogEntry, error)
	Notes(ctx context.Context, id string) ([]pagerduty.Note, error)
	User(ctx context.Context, id string) (pagerduty.User, error)
	// FromUser is the user writes are made as (PAGERDUTY_FROM_EMAIL): the
	// author of aftermath's own notes.
	FromUser(ctx context.Context) (u pagerduty.User, found bool, err error)
	// From is that user's email (PAGERDUTY_FROM_EMAIL), known without a
	// request.
	From() string
	PriorityByName(ctx context.Context, name string) (pagerduty.Priority, error)
	AddNote(ctx context.Context, id, content string) (pagerduty.Note, error)
	SetPriority(ctx context.Context, id, priorityID string) error
	Resolve(ctx context.Context, ids []string) error
	Merge(ctx context.Context, targetID string, sourceIDs []string) (pagerduty.Incident, error)
}

// Jira is what the workflow needs of Jira to keep a post-mortem: its epic,
// page, follow-up tickets and comments. Finding them again after a lost
// answer is Jira's business (FindPostmortem, FindFollowups), and so are its
// limits and refusals.
type Jira interface {
	Transitions // status_page.go
	// UserByEmail maps an owner to a Jira user.
	UserByEmail(ctx context.Context, email string) (jira.User, bool, error)
	// FindPostmortem finds the epic of the post-mortem covering an incident.
	FindPostmortem(ctx context.Context, incidentID string) (epic jira.Issue, found bool, err error)
	CreateEpic(ctx context.Context, e jira.Epic) (jira.CreatedEpic, error)
	// FindFollowups lists the follow-ups of an incident under epic.
	FindFollowups(ctx context.Context, epic, incidentID string) ([]jira.Issue, error)
	CreateFollowups(ctx context.Context, epic, incidentID string, fus []jira.Followup) ([]jira.BulkResult, error)
	SetPage(ctx context.Context, key, page string) error
	// AddIncidents adds incidents that joined the group to its epic.
	AddIncidents(ctx context.Context, key string, incidentIDs []string) error
	HasComment(ctx context.Context, key, marker string) (bool, error)
	AddComment(ctx context.Context, key, body string) error
	// Mention is the markup that mentions a user in a comment.
	Mention(ctx context.Context, userID string) (string, error)
	// Page reads the post-mortem page as people left it.
	Page(ctx context.Context, key string) (string, error)
	BrowseURL(key string) string
}

// Store is what the workflow needs of Redis: the checkpoints of outside
// writes, the trace of reads, groups and member locks.
type Store interface {
	Steps(ctx context.Context, incidentID string) (map[string]store.StepRecord, error)
	RecordStep(ctx context.Context, incidentID string, st store.StepRecord) error
	Trace(ctx context.Context, incidentID string) (map[string]store.StepRecord, error)
	RecordTrace(ctx context.Context, incidentID string, st store.StepRecord) error
	RecordEvent(ctx context.Context, incidentID string, ev store.EventRecord) error
	ClaimGroup(ctx context.Context, primary string, candidates []string) (store.IncidentGroup, error)
	GroupOf(ctx context.Context, id string) (store.IncidentGroup, bool, error)
	LockIncident(ctx context.Context, incidentID string, ttl time.Duration) (*store.Lock, error)
	// The deadline index.
	Register(ctx context.Context, pm store.Postmortem, maxOverdue int) (bool, error)
	Deadline(ctx context.Context, incidentID string) (store.Deadline, bool, error)
	NoteReminder(ctx context.Context, incidentID string, r store.Sent) error
	// The follow-up index, for the follow-up reminders.
	Followups(ctx context.Context, incidentID string) ([]store.Followup, error)
	NoteFollowupReminder(ctx context.Context, incidentID string, job store.FollowupReminderJob) error
	// Enqueue queues aftermath's own jobs (the messages: notify.go).
	Enqueue(ctx context.Context, d store.Delivery) (store.EnqueueResult, error)
	// The post-mortems by service, the follow-up index and the recurrence
	// log (recurrence.go).
	recurrenceStore
}
