package pagerdutysim

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// incident is the stored state; Incident is its exported snapshot.
type incident struct {
	Incident
	seqs []int // creation sequence of each log entry, to order equal times
}

const (
	agentUser    = "user_reference"
	agentService = "service_reference"
)

// AddUser adds or replaces a user.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = &u
}

// AddService adds or replaces a service.
func (s *Server) AddService(svc Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services[svc.ID] = &svc
}

// Priorities returns the account's priorities, most severe first.
func (s *Server) Priorities() []Priority {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.priorities)
}

// AddIncident creates a triggered incident with its trigger_log_entry and
// returns a snapshot of it. It panics on an unknown service, user or
// priority: seeding mistakes are the test's bug.
func (s *Server) AddIncident(in NewIncident) *Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.services[in.ServiceID]; !ok {
		panic(fmt.Sprintf("pagerdutysim: AddIncident %q: unknown service %q", in.ID, in.ServiceID))
	}
	if in.Priority != "" {
		s.mustPriority(in.Priority)
	}
	if in.TriggeredBy != "" {
		s.mustUser(in.TriggeredBy)
	}
	for _, t := range in.Teams {
		if t.ID == "" {
			panic(fmt.Sprintf("pagerdutysim: AddIncident %q: a team without an ID", in.ID))
		}
	}
	if in.ID == "" {
		s.seq++
		in.ID = fmt.Sprintf("PINC%03d", s.seq)
	}
	if _, dup := s.incidents[in.ID]; dup {
		panic(fmt.Sprintf("pagerdutysim: AddIncident: incident %q exists", in.ID))
	}
	if in.Number == 0 {
		for _, x := range s.incidents {
			in.Number = max(in.Number, x.Number)
		}
		in.Number++
	}
	if in.Urgency == "" {
		in.Urgency = "high"
	}
	if in.CreatedAt.IsZero() {
		in.CreatedAt = s.now()
	}
	x := &incident{Incident: Incident{
		ID:                 in.ID,
		Number:             in.Number,
		Title:              in.Title,
		Status:             StatusTriggered,
		ServiceID:          in.ServiceID,
		Priority:           in.Priority,
		Urgency:            in.Urgency,
		CreatedAt:          in.CreatedAt,
		UpdatedAt:          in.CreatedAt,
		LastStatusChangeAt: in.CreatedAt,
		Alerts:             1,
		Teams:              slices.Clone(in.Teams),
		HTMLURL:            s.base + "/incidents/" + in.ID,
	}}
	if in.Conference != nil {
		cb := *in.Conference
		x.Conference = &cb
	}
	s.incidents[x.ID] = x
	e := LogEntry{Type: TriggerLogEntry, CreatedAt: in.CreatedAt, AgentType: agentService, AgentID: in.ServiceID, Channel: "api", Summary: "Triggered through the API."}
	if in.TriggeredBy != "" {
		e.AgentType, e.AgentID, e.Channel, e.Summary = agentUser, in.TriggeredBy, "web_trigger", "Triggered through the website."
		x.LastStatusChangeBy = in.TriggeredBy
	}
	s.appendLog(x, e)
	snap := s.snapshot(x)
	return &snap
}

// SetConferenceBridge sets (or, with nil, removes) the incident's
// conference bridge, as a responder does from the website.
func (s *Server) SetConferenceBridge(incidentID string, cb *ConferenceBridge) {
	s.act(func() {
		x := s.mustIncident(incidentID)
		x.Conference = nil
		if cb != nil {
			c := *cb
			x.Conference = &c
		}
	})
}

// Acknowledge acknowledges the incident as the user, as from the website.
func (s *Server) Acknowledge(incidentID, userID string, at time.Time) {
	s.act(func() {
		x, u := s.mustIncident(incidentID), s.mustUser(userID)
		s.acknowledge(x, u, "website", s.at(at))
	})
}

// Assign adds the user to the incident's assignees, as the escalation
// policy does, with an assign_log_entry.
func (s *Server) Assign(incidentID, userID string, at time.Time) {
	s.act(func() {
		x, u := s.mustIncident(incidentID), s.mustUser(userID)
		at := s.at(at)
		s.assign(x, []string{u.ID}, at, false)
		s.appendLog(x, LogEntry{Type: AssignLogEntry, CreatedAt: at, AgentType: agentService, AgentID: x.ServiceID, Channel: "auto", Summary: fmt.Sprintf("Assigned to %s.", u.Name), Assignees: []string{u.ID}})
	})
}

// Escalate escalates the incident to the user after an acknowledgement
// timeout: the user replaces the assignees, with an escalate_log_entry.
func (s *Server) Escalate(incidentID, userID string, at time.Time) {
	s.act(func() {
		x, u := s.mustIncident(incidentID), s.mustUser(userID)
		at := s.at(at)
		s.assign(x, []string{u.ID}, at, true)
		s.appendLog(x, LogEntry{Type: EscalateLogEntry, CreatedAt: at, AgentType: agentService, AgentID: x.ServiceID, Channel: "timeout", Summary: fmt.Sprintf("Escalated to %s.", u.Name), Assignees: []string{u.ID}})
	})
}

// Annotate adds a note by the user, with its annotate_log_entry.
func (s *Server) Annotate(incidentID, userID, content string, at time.Time) {
	s.act(func() {
		x, u := s.mustIncident(incidentID), s.mustUser(userID)
		s.annotate(x, u, content, s.at(at))
	})
}

// SetPriority sets the incident's priority by name ("" removes it) as the
// user, with a priority_change_log_entry.
func (s *Server) SetPriority(incidentID, priorityName, userID string, at time.Time) {
	s.act(func() {
		x, u := s.mustIncident(incidentID), s.mustUser(userID)
		if priorityName != "" {
			s.mustPriority(priorityName)
		}
		s.setPriority(x, priorityName, u, "website", s.at(at))
	})
}

// Resolve resolves the incident as the user, or as the service when userID
// is "", with a resolve_log_entry.
func (s *Server) Resolve(incidentID, userID string, at time.Time) {
	s.act(func() {
		x := s.mustIncident(incidentID)
		var u *User
		if userID != "" {
			u = s.mustUser(userID)
		}
		s.resolve(x, u, "website", "", s.at(at))
	})
}

// AddNotifyEntries appends n notify_log_entry rows, cycling through the
// assignees (or all users when there are none), to build long timelines.
func (s *Server) AddNotifyEntries(incidentID string, n int, at time.Time) {
	s.act(func() {
		x := s.mustIncident(incidentID)
		at := s.at(at)
		var who []string
		for _, a := range x.Assignments {
			who = append(who, a.UserID)
		}
		if len(who) == 0 {
			for id := range s.users {
				who = append(who, id)
			}
			slices.Sort(who)
		}
		for i := range n {
			e := LogEntry{Type: NotifyLogEntry, CreatedAt: at, AgentType: agentService, AgentID: x.ServiceID, Channel: "auto", Summary: "Notified by email."}
			if len(who) > 0 {
				u := s.users[who[i%len(who)]]
				e.UserID, e.Summary = u.ID, fmt.Sprintf("Notified %s by email.", u.Name)
			}
			s.appendLog(x, e)
		}
	})
}

// SetRelated sets what GET /incidents/{id}/related_incidents answers for
// the incident. The related IDs need not be seeded incidents.
func (s *Server) SetRelated(incidentID string, related ...string) {
	s.act(func() {
		s.mustIncident(incidentID)
		s.related[incidentID] = slices.Clone(related)
	})
}

// DisableRelatedIncidents makes GET /incidents/{id}/related_incidents answer
// 402, like an account without the Event Intelligence package.
func (s *Server) DisableRelatedIncidents() {
	s.act(func() { s.noRelated = true })
}

// RefusePriorityOnResolved makes PUT /incidents answer 400 when it changes
// the priority of a resolved incident. By default that change is allowed.
func (s *Server) RefusePriorityOnResolved(refuse bool) {
	s.act(func() { s.refusePrio = refuse })
}

// Incident returns a snapshot of the incident.
func (s *Server) Incident(id string) (Incident, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.incidents[id]
	if !ok {
		return Incident{}, false
	}
	return s.snapshot(x), true
}

// Notes returns the incident's notes, oldest first.
func (s *Server) Notes(incidentID string) []Note {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x, ok := s.incidents[incidentID]; ok {
		return slices.Clone(x.Notes)
	}
	return nil
}

// LogEntries returns the incident's log entries, oldest first (the API
// answers newest first).
func (s *Server) LogEntries(incidentID string) []LogEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x, ok := s.incidents[incidentID]; ok {
		return s.snapshot(x).LogEntries
	}
	return nil
}

func (s *Server) act(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func (s *Server) at(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t
}

func (s *Server) mustIncident(id string) *incident {
	x, ok := s.incidents[id]
	if !ok {
		panic(fmt.Sprintf("pagerdutysim: unknown incident %q", id))
	}
	return x
}

func (s *Server) mustUser(id string) *User {
	u, ok := s.users[id]
	if !ok {
		panic(fmt.Sprintf("pagerdutysim: unknown user %q", id))
	}
	return u
}

func (s *Server) mustPriority(name string) Priority {
	p, ok := s.priorityByName(name)
	if !ok {
		panic(fmt.Sprintf("pagerdutysim: unknown priority %q", name))
	}
	return p
}

func (s *Server) priorityByName(name string) (Priority, bool) {
	for _, p := range s.priorities {
		if p.Name == name {
			return p, true
		}
	}
	return Priority{}, false
}

func (s *Server) priorityByID(id string) (Priority, bool) {
	for _, p := range s.priorities {
		if p.ID == id {
			return p, true
		}
	}
	return Priority{}, false
}

func (s *Server) userByEmail(email string) *User {
	for _, u := range s.users {
		if strings.EqualFold(u.Email, email) {
			return u
		}
	}
	return nil
}

// snapshot copies x, its log in chronological order.
func (s *Server) snapshot(x *incident) Incident {
	out := x.Incident
	out.Assignments = slices.Clone(x.Assignments)
	out.Acknowledgements = slices.Clone(x.Acknowledgements)
	if x.ResolveReason != nil {
		rr := *x.ResolveReason
		out.ResolveReason = &rr
	}
	if x.Conference != nil {
		cb := *x.Conference
		out.Conference = &cb
	}
	out.Teams = slices.Clone(x.Teams)
	out.Notes = slices.Clone(x.Notes)
	out.LogEntries = make([]LogEntry, len(x.LogEntries))
	for i, e := range s.orderedLog(x, false) {
		e.Assignees = slices.Clone(e.Assignees)
		out.LogEntries[i] = e
	}
	return out
}

// orderedLog sorts the log by time, oldest first or newest first; entries
// with equal times keep the order they were written in.
func (s *Server) orderedLog(x *incident, newestFirst bool) []LogEntry {
	idx := make([]int, len(x.LogEntries))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		c := x.LogEntries[a].CreatedAt.Compare(x.LogEntries[b].CreatedAt)
		if c == 0 {
			c = cmp.Compare(x.seqs[a], x.seqs[b])
		}
		if newestFirst {
			return -c
		}
		return c
	})
	out := make([]LogEntry, len(idx))
	for i, j := range idx {
		out[i] = x.LogEntries[j]
	}
	return out
}

func (s *Server) appendLog(x *incident, e LogEntry) LogEntry {
	s.seq++
	e.ID = fmt.Sprintf("Q%013d", s.seq)
	e.IncidentID = x.ID
	x.LogEntries = append(x.LogEntries, e)
	x.seqs = append(x.seqs, s.seq)
	if e.CreatedAt.After(x.UpdatedAt) {
		x.UpdatedAt = e.CreatedAt
	}
	return e
}

func (s *Server) setStatus(x *incident, status string, by *User, at time.Time) {
	x.Status = status
	x.LastStatusChangeAt = at
	x.LastStatusChangeBy = ""
	if by != nil {
		x.LastStatusChangeBy = by.ID
	}
}

// acknowledge acknowledges x; a resolved incident is reopened, as the
// PUT /incidents documentation says, and assigned to the acknowledger.
func (s *Server) acknowledge(x *incident, u *User, channel string, at time.Time) {
	if x.Status == StatusResolved {
		x.ResolvedAt, x.ResolveReason = time.Time{}, nil
		s.assign(x, []string{u.ID}, at, true)
	}
	s.setStatus(x, StatusAcknowledged, u, at)
	x.Acknowledgements = append(x.Acknowledgements, Acknowledgement{UserID: u.ID, At: at})
	s.appendLog(x, LogEntry{Type: AcknowledgeLogEntry, CreatedAt: at, AgentType: agentUser, AgentID: u.ID, Channel: channel, Summary: fmt.Sprintf("Acknowledged by %s.", u.Name)})
}

// unacknowledge puts an acknowledged incident back to triggered; a resolved
// one is reopened.
func (s *Server) unacknowledge(x *incident, u *User, channel string, at time.Time) {
	switch x.Status {
	case StatusAcknowledged:
		s.setStatus(x, StatusTriggered, u, at)
		x.Acknowledgements = nil
		s.appendLog(x, LogEntry{Type: UnacknowledgeLogEntry, CreatedAt: at, AgentType: agentUser, AgentID: u.ID, Channel: channel, Summary: fmt.Sprintf("Unacknowledged by %s.", u.Name)})
	case StatusResolved:
		x.ResolvedAt, x.ResolveReason = time.Time{}, nil
		s.setStatus(x, StatusTriggered, u, at)
		s.appendLog(x, LogEntry{Type: TriggerLogEntry, CreatedAt: at, AgentType: agentUser, AgentID: u.ID, Channel: channel, Summary: fmt.Sprintf("Reopened by %s.", u.Name)})
	}
}

// assign adds users to the assignees, or replaces them.
func (s *Server) assign(x *incident, users []string, at time.Time, replace bool) {
	if replace {
		x.Assignments = nil
	}
	for _, id := range users {
		if !slices.ContainsFunc(x.Assignments, func(a Assignment) bool { return a.UserID == id }) {
			x.Assignments = append(x.Assignments, Assignment{UserID: id, At: at})
		}
	}
	x.UpdatedAt = maxTime(x.UpdatedAt, at)
}

func (s *Server) annotate(x *incident, u *User, content string, at time.Time) Note {
	s.seq++
	n := Note{ID: fmt.Sprintf("PN%05d", s.seq), IncidentID: x.ID, UserID: u.ID, Content: content, CreatedAt: at}
	x.Notes = append(x.Notes, n)
	s.appendLog(x, LogEntry{Type: AnnotateLogEntry, CreatedAt: at, AgentType: agentUser, AgentID: u.ID, Channel: "note", Summary: "Note added", Note: content})
	return n
}

func (s *Server) setPriority(x *incident, name string, u *User, channel string, at time.Time) {
	if x.Priority == name {
		return
	}
	old := x.Priority
	x.Priority = name
	s.appendLog(x, LogEntry{
		Type: PriorityChangeLogEntry, CreatedAt: at, AgentType: agentUser, AgentID: u.ID, Channel: channel,
		Summary:     fmt.Sprintf("Priority changed from %q to %q", orNone(old), orNone(name)),
		OldPriority: old, NewPriority: name,
	})
}

func (s *Server) setUrgency(x *incident, urgency string, u *User, channel string, at time.Time) {
	if x.Urgency == urgency {
		return
	}
	old := x.Urgency
	x.Urgency = urgency
	s.appendLog(x, LogEntry{
		Type: UrgencyChangeLogEntry, CreatedAt: at, AgentType: agentUser, AgentID: u.ID, Channel: channel,
		Summary:    fmt.Sprintf("Urgency changed from %s to %s by %s.", old, urgency, u.Name),
		OldUrgency: old, NewUrgency: urgency,
	})
}

// resolve resolves x as u (nil = the service). Resolved incidents have no
// assignments or acknowledgements, as in PagerDuty.
func (s *Server) resolve(x *incident, u *User, channel, resolution string, at time.Time) {
	if x.Status == StatusResolved {
		return
	}
	s.setStatus(x, StatusResolved, u, at)
	x.ResolvedAt = at
	x.Assignments, x.Acknowledgements = nil, nil
	e := LogEntry{Type: ResolveLogEntry, CreatedAt: at, AgentType: agentService, AgentID: x.ServiceID, Channel: "api", Summary: "Resolved through the API.", Note: resolution}
	if u != nil {
		e.AgentType, e.AgentID, e.Channel, e.Summary = agentUser, u.ID, channel, fmt.Sprintf("Resolved by %s.", u.Name)
	}
	s.appendLog(x, e)
}

// merge resolves src into target: src is resolved with a merge
// resolve_reason and target takes its alerts.
func (s *Server) merge(target, src *incident, u *User, at time.Time) {
	if src.Status != StatusResolved {
		s.setStatus(src, StatusResolved, u, at)
		src.ResolvedAt = at
		src.Assignments, src.Acknowledgements = nil, nil
		s.appendLog(src, LogEntry{Type: ResolveLogEntry, CreatedAt: at, AgentType: agentUser, AgentID: u.ID, Channel: "api",
			Summary: fmt.Sprintf("Resolved by %s: merged into incident #%d.", u.Name, target.Number)})
	}
	src.ResolveReason = &ResolveReason{Type: "merge_resolve_reason", IncidentID: target.ID}
	src.UpdatedAt = maxTime(src.UpdatedAt, at)
	target.Alerts += src.Alerts
	target.UpdatedAt = maxTime(target.UpdatedAt, at)
}

func orNone(p string) string {
	if p == "" {
		return "none"
	}
	return p
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
