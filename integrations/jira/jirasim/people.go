package jirasim

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// What people do to follow-up tickets in Jira's UI, for tests and the demo:
// add a ticket under an epic, change its due date, delete it (moving it to
// Done is SetStatus).

// AddChild creates an issue of type issueType under the epic, as the user
// reporterID (accountId on Cloud, username on Data Center) would in Jira's
// UI: in the epic's project, unlabelled, assigned to assigneeID ("" none),
// due on due (YYYY-MM-DD, "" none). It panics on an unknown epic, user,
// issue type or a bad date.
func (s *Server) AddChild(epic, issueType, summary, reporterID, assigneeID, due string) Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.issueByKeyOrID(epic)
	if e == nil || e.IssueType != epicType {
		panic(fmt.Sprintf("jirasim: AddChild: no epic %q", epic))
	}
	p := s.projectByKeyOrID(e.Project)
	if !slices.Contains(p.IssueTypes, issueType) || issueType == epicType {
		panic(fmt.Sprintf("jirasim: AddChild: issue type %q is not a child type of project %s", issueType, p.Key))
	}
	for _, id := range []string{reporterID, assigneeID} {
		if id != "" && s.userByID(id) == nil {
			panic(fmt.Sprintf("jirasim: AddChild: no user %q", id))
		}
	}
	checkDate("AddChild", due)
	x := s.insert(p, Issue{
		IssueType: issueType, Summary: strings.TrimSpace(summary), Reporter: reporterID, Assignee: assigneeID,
		DueDate: due, Priority: defaultPriority, Parent: e.Key,
	}, s.now())
	return cloneIssue(&x.Issue)
}

// SetDueDate changes an issue's due date (YYYY-MM-DD; "" removes it), as
// someone editing the issue in Jira's UI would. It panics on an unknown
// issue or a bad date.
func (s *Server) SetDueDate(key, due string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.issueByKeyOrID(key)
	if x == nil {
		panic(fmt.Sprintf("jirasim: SetDueDate: no issue %q", key))
	}
	checkDate("SetDueDate", due)
	x.DueDate = due
	s.touch(x, s.now())
}

// DeleteIssue deletes an issue, as someone with the permission would in
// Jira's UI: it is gone from reads and searches, and a query naming its key
// is refused as naming no issue. It panics on an unknown issue.
func (s *Server) DeleteIssue(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.issueByKeyOrID(key)
	if x == nil {
		panic(fmt.Sprintf("jirasim: DeleteIssue: no issue %q", key))
	}
	s.issues = slices.DeleteFunc(s.issues, func(y *issue) bool { return y == x })
	delete(s.byID, x.ID)
	delete(s.byKey, x.Key)
}

func checkDate(op, due string) {
	if due == "" {
		return
	}
	if _, err := time.Parse(time.DateOnly, due); err != nil {
		panic(fmt.Sprintf("jirasim: %s: bad date %q", op, due))
	}
}
