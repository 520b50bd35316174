package jirasim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// project is the stored state of a Project.
type project struct {
	Project
	id   string
	last int // number of the last issue created in it
}

// issue is the stored state; Issue is its exported snapshot. versions holds
// the states search has not caught up with yet (see Options.SearchLag).
type issue struct {
	Issue
	versions []version
}

type version struct {
	at   time.Time
	snap Issue
}

// DefaultIssueTypes are a project's issue types when Project.IssueTypes is
// empty: those of a Jira Software scrum project.
var DefaultIssueTypes = []string{"Epic", "Task", "Story", "Bug"}

// Epic is the issue type of the hierarchy level above the others.
const epicType = "Epic"

type priority struct{ id, name string }

// priorities are Jira's defaults, most severe first; Medium is the default
// priority of a new issue.
var priorities = []priority{{"1", "Highest"}, {"2", "High"}, {"3", "Medium"}, {"4", "Low"}, {"5", "Lowest"}}

const defaultPriority = "Medium"

type statusCategory struct {
	id               int
	key, name, color string
}

var (
	categoryNew           = statusCategory{2, "new", "To Do", "blue-gray"}
	categoryIndeterminate = statusCategory{4, "indeterminate", "In Progress", "yellow"}
	categoryDone          = statusCategory{3, "done", "Done", "green"}
)

type status struct {
	id, name     string
	category     statusCategory
	transitionID string // the global transition into this status
}

// workflow is the one workflow of every project: five statuses with a
// global transition into each, so any status can follow any other.
var workflow = []status{
	{"10000", StatusToDo, categoryNew, "11"},
	{"10001", StatusInProgress, categoryIndeterminate, "21"},
	{"10002", StatusInReview, categoryIndeterminate, "31"},
	{"10003", StatusReviewed, categoryIndeterminate, "41"},
	{"10004", StatusDone, categoryDone, "51"},
}

func statusNamed(name string) (status, bool) {
	for _, st := range workflow {
		if st.name == name {
			return st, true
		}
	}
	return status{}, false
}

// projectKey is Jira's default project key pattern.
var projectKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]{1,9}$`)

// AddProject adds a project, or replaces the name and issue types of the
// project with the same key. It panics on a key Jira would refuse.
func (s *Server) AddProject(p Project) {
	if !projectKey.MatchString(p.Key) {
		panic(fmt.Sprintf("jirasim: AddProject: invalid project key %q", p.Key))
	}
	if len(p.IssueTypes) == 0 {
		p.IssueTypes = DefaultIssueTypes
	}
	p.IssueTypes = slices.Clone(p.IssueTypes)
	if p.Name == "" {
		p.Name = p.Key
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range p.IssueTypes {
		if _, ok := s.issueTypeIDs[t]; !ok {
			s.issueTypeIDs[t] = strconv.Itoa(10000 + len(s.issueTypeIDs))
		}
	}
	if old, ok := s.projects[p.Key]; ok {
		old.Project = p
		return
	}
	s.projects[p.Key] = &project{Project: p, id: strconv.Itoa(10000 + len(s.projects))}
}

// AddUser adds a user, or replaces the one with the same AccountID (Cloud)
// or Name (Data Center). It panics when the mode's identifier is missing.
// On Data Center an empty Key becomes "JIRAUSER<n>".
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.userID(&u)
	if id == "" {
		panic(fmt.Sprintf("jirasim: AddUser %+v: a %s user needs %s", u, s.mode, map[Mode]string{Cloud: "an AccountID", DataCenter: "a Name"}[s.mode]))
	}
	if u.Key == "" {
		u.Key = fmt.Sprintf("JIRAUSER%d", 10000+len(s.users))
	}
	for i, old := range s.users {
		if s.userID(old) == id {
			s.users[i] = &u
			return
		}
	}
	s.users = append(s.users, &u)
}

// Myself returns the user requests authenticate as.
func (s *Server) Myself() User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.me()
}

// SetStatus moves an issue to a workflow status, as someone working the
// issue in Jira's UI would. It panics on an unknown issue or status.
func (s *Server) SetStatus(key, statusName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.issueByKeyOrID(key)
	if x == nil {
		panic(fmt.Sprintf("jirasim: SetStatus: no issue %q", key))
	}
	if _, ok := statusNamed(statusName); !ok {
		panic(fmt.Sprintf("jirasim: SetStatus: unknown status %q", statusName))
	}
	s.setStatus(x, statusName, s.now())
}

// AddComment comments on an issue as another user (accountId on Cloud,
// username on Data Center), as someone commenting in Jira's UI would; the
// API's comments are written by the user requests authenticate as. Like
// Jira it refuses a blank body or one over MaxText characters: AddComment
// panics then, and on an unknown issue or user.
func (s *Server) AddComment(key, authorID, body string) Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.issueByKeyOrID(key)
	u := s.userByID(authorID)
	if x == nil || u == nil {
		panic(fmt.Sprintf("jirasim: AddComment: no issue %q or no user %q", key, authorID))
	}
	raw, _ := json.Marshal(body)
	if _, msg := s.commentBody(raw); msg != "" {
		panic("jirasim: AddComment: " + msg)
	}
	c := s.newComment(body, s.now())
	c.Author = s.userID(u)
	x.Comments = append(x.Comments, c)
	s.touch(x, c.Created)
	return c
}

// SetTextLimit changes Options.TextLimit from now on, as an administrator
// changing jira.text.field.character.limit would; 0 restores Jira's
// default.
func (s *Server) SetTextLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.textLimit = cmp.Or(n, MaxText)
}

// RejectBulkItem makes every later bulk-create element whose summary
// contains summaryContains fail with a per-element error while the others
// are created, as a workflow validator or a required-field scheme would.
func (s *Server) RejectBulkItem(summaryContains string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectBulk = append(s.rejectBulk, summaryContains)
}

// SetSearchLag changes Options.SearchLag from now on. Each issue's current
// state counts as indexed at its last update, so an issue changed less than
// lag ago drops out of search results until the lag has passed.
func (s *Server) SetSearchLag(lag time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lag = lag
	for _, x := range s.issues {
		x.versions = nil
		if lag > 0 {
			x.versions = []version{{at: x.Updated, snap: cloneIssue(&x.Issue)}}
		}
	}
}

// Issue returns a snapshot of the issue with this key (or id).
func (s *Server) Issue(key string) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.issueByKeyOrID(key)
	if x == nil {
		return Issue{}, false
	}
	return cloneIssue(&x.Issue), true
}

// Issues returns snapshots of every issue, in creation order.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Issue, len(s.issues))
	for i, x := range s.issues {
		out[i] = cloneIssue(&x.Issue)
	}
	return out
}

func cloneIssue(x *Issue) Issue {
	c := *x
	c.Labels = slices.Clone(x.Labels)
	c.Comments = slices.Clone(x.Comments)
	return c
}

// The helpers below run under s.mu.

// userID is how the mode identifies a user: accountId or username.
func (s *Server) userID(u *User) string {
	if s.mode == Cloud {
		return u.AccountID
	}
	return u.Name
}

// userByID finds a user by accountId (Cloud) or username (Data Center,
// where usernames are case-insensitive).
func (s *Server) userByID(id string) *User {
	for _, u := range s.users {
		if s.mode == Cloud && u.AccountID == id || s.mode == DataCenter && strings.EqualFold(u.Name, id) {
			return u
		}
	}
	return nil
}

// me is the authenticated user: the one with Options.Email.
func (s *Server) me() *User {
	for _, u := range s.users {
		if strings.EqualFold(u.Email, s.email) {
			return u
		}
	}
	return s.users[0]
}

func (s *Server) issueByKeyOrID(k string) *issue {
	if x, ok := s.byID[k]; ok {
		return x
	}
	return s.byKey[strings.ToUpper(k)]
}

func (s *Server) projectByKeyOrID(k string) *project {
	for _, p := range s.projects {
		if strings.EqualFold(p.Key, k) || p.id == k {
			return p
		}
	}
	return nil
}

func priorityNamed(name string) (priority, bool) {
	for _, p := range priorities {
		if strings.EqualFold(p.name, name) {
			return p, true
		}
	}
	return priority{}, false
}

func priorityWithID(id string) (priority, bool) {
	for _, p := range priorities {
		if p.id == id {
			return p, true
		}
	}
	return priority{}, false
}

// insert stores a new issue in project p, numbering it.
func (s *Server) insert(p *project, d Issue, at time.Time) *issue {
	s.issueSeq++
	p.last++
	d.ID = strconv.Itoa(10000 + s.issueSeq)
	d.Key = fmt.Sprintf("%s-%d", p.Key, p.last)
	d.Project = p.Key
	d.Status = StatusToDo
	d.Created = at
	x := &issue{Issue: d}
	s.issues = append(s.issues, x)
	s.byID[x.ID] = x
	s.byKey[x.Key] = x
	s.touch(x, at)
	return x
}

func (s *Server) setStatus(x *issue, name string, at time.Time) {
	x.Status = name
	x.ResolutionDate = time.Time{}
	if name == StatusDone {
		x.ResolutionDate = at
	}
	s.touch(x, at)
}

// touch records a change to x: it bumps Updated and, under SearchLag, keeps
// the new state for the moment search catches up with it.
func (s *Server) touch(x *issue, at time.Time) {
	x.Updated = at
	if s.lag > 0 {
		x.versions = append(x.versions, version{at: at, snap: cloneIssue(&x.Issue)})
	}
}

// indexed is the state of x search sees at now: the latest state at least
// SearchLag old, or nil when the issue is newer than that.
func (s *Server) indexed(x *issue, now time.Time) *Issue {
	if s.lag <= 0 {
		return &x.Issue
	}
	cutoff := now.Add(-s.lag)
	i := len(x.versions) - 1
	for i >= 0 && x.versions[i].at.After(cutoff) {
		i--
	}
	if i < 0 {
		return nil
	}
	x.versions = x.versions[i:] // older states can never be seen again
	return &x.versions[0].snap
}
