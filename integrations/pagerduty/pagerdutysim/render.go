package pagerdutysim

import (
	"fmt"
	"time"
)

// Rendering follows the spec's schemas and examples: references carry id,
// type, summary, self and html_url; times are RFC 3339 with seconds.

type view struct {
	loc      *time.Location
	includes map[string]bool
}

func (v view) time(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.In(v.loc).Format(time.RFC3339)
}

func (s *Server) userRef(id string) map[string]any {
	name := id
	if u, ok := s.users[id]; ok {
		name = u.Name
	}
	return map[string]any{
		"id": id, "type": "user_reference", "summary": name,
		"self": s.base + "/users/" + id, "html_url": s.base + "/users/" + id,
	}
}

func (s *Server) userJSON(u *User) map[string]any {
	return map[string]any{
		"id": u.ID, "type": "user", "summary": u.Name,
		"self": s.base + "/users/" + u.ID, "html_url": s.base + "/users/" + u.ID,
		"name": u.Name, "email": u.Email, "time_zone": "Etc/UTC", "color": "purple",
		"role": "user", "description": "", "job_title": "", "invitation_sent": false,
		"avatar_url":      "https://secure.gravatar.com/avatar/0?d=mm&r=PG",
		"teams":           []any{},
		"contact_methods": []any{}, "notification_rules": []any{},
	}
}

func (s *Server) serviceRef(id string) map[string]any {
	name := id
	if svc, ok := s.services[id]; ok {
		name = svc.Name
	}
	return map[string]any{
		"id": id, "type": "service_reference", "summary": name,
		"self": s.base + "/services/" + id, "html_url": s.base + "/service-directory/" + id,
	}
}

func (s *Server) serviceJSON(id string) map[string]any {
	m := s.serviceRef(id)
	m["type"] = "service"
	m["name"] = m["summary"]
	m["status"] = "active"
	return m
}

// teamsJSON renders an incident's teams as team references.
func (s *Server) teamsJSON(ts []Team) []any {
	out := []any{}
	for _, t := range ts {
		name := t.Name
		if name == "" {
			name = t.ID
		}
		out = append(out, map[string]any{
			"id": t.ID, "type": "team_reference", "summary": name,
			"self": s.base + "/teams/" + t.ID, "html_url": s.base + "/teams/" + t.ID,
		})
	}
	return out
}

func (s *Server) priorityJSON(p Priority) map[string]any {
	return map[string]any{
		"id": p.ID, "type": "priority", "summary": p.Name,
		"self": s.base + "/priorities/" + p.ID, "html_url": nil,
		"name": p.Name, "description": "",
	}
}

func (s *Server) incidentRef(x *incident) map[string]any {
	return map[string]any{
		"id": x.ID, "type": "incident_reference", "summary": fmt.Sprintf("[#%d] %s", x.Number, x.Title),
		"self": s.base + "/incidents/" + x.ID, "html_url": x.HTMLURL,
	}
}

func (s *Server) agentRef(kind, id string) any {
	switch {
	case id == "":
		return nil
	case kind == agentUser:
		return s.userRef(id)
	default:
		return s.serviceRef(id)
	}
}

func (s *Server) incidentJSON(x *incident, v view) map[string]any {
	assignments := []any{}
	for _, a := range x.Assignments {
		var who any = s.userRef(a.UserID)
		if u, ok := s.users[a.UserID]; ok && (v.includes["assignees"] || v.includes["users"]) {
			who = s.userJSON(u)
		}
		assignments = append(assignments, map[string]any{"at": v.time(a.At), "assignee": who})
	}
	acks := []any{}
	for _, a := range x.Acknowledgements {
		var who any = s.userRef(a.UserID)
		if u, ok := s.users[a.UserID]; ok && (v.includes["acknowledgers"] || v.includes["users"]) {
			who = s.userJSON(u)
		}
		acks = append(acks, map[string]any{"at": v.time(a.At), "acknowledger": who})
	}
	var service any = s.serviceRef(x.ServiceID)
	if v.includes["services"] {
		service = s.serviceJSON(x.ServiceID)
	}
	var priority any
	if p, ok := s.priorityByName(x.Priority); ok {
		priority = s.priorityJSON(p)
	}
	var resolveReason any
	if rr := x.ResolveReason; rr != nil {
		ref := map[string]any{"id": rr.IncidentID, "type": "incident_reference", "self": s.base + "/incidents/" + rr.IncidentID, "html_url": s.base + "/incidents/" + rr.IncidentID}
		if t, ok := s.incidents[rr.IncidentID]; ok {
			ref = s.incidentRef(t)
		}
		resolveReason = map[string]any{"type": rr.Type, "incident": ref}
	}
	lastBy := s.agentRef(agentService, x.ServiceID)
	if x.LastStatusChangeBy != "" {
		lastBy = s.agentRef(agentUser, x.LastStatusChangeBy)
	}
	var firstTrigger any
	for _, e := range s.orderedLog(x, false) {
		if e.Type == TriggerLogEntry {
			if v.includes["first_trigger_log_entries"] {
				firstTrigger = s.logEntryJSON(x, e, v)
			} else {
				firstTrigger = map[string]any{
					"id": e.ID, "type": "trigger_log_entry_reference", "summary": e.Summary,
					"self":     s.base + "/log_entries/" + e.ID + "?incident_id=" + x.ID,
					"html_url": x.HTMLURL + "/log_entries/" + e.ID,
				}
			}
			break
		}
	}
	triggered, resolved := x.Alerts, 0
	if x.Status == StatusResolved {
		triggered, resolved = 0, x.Alerts
	}
	m := map[string]any{
		"id": x.ID, "type": "incident", "summary": fmt.Sprintf("[#%d] %s", x.Number, x.Title),
		"self": s.base + "/incidents/" + x.ID, "html_url": x.HTMLURL,
		"incident_number":         x.Number,
		"title":                   x.Title,
		"description":             x.Title,
		"created_at":              v.time(x.CreatedAt),
		"updated_at":              v.time(x.UpdatedAt),
		"status":                  x.Status,
		"incident_key":            nil,
		"service":                 service,
		"assignments":             assignments,
		"assigned_via":            "escalation_policy",
		"acknowledgements":        acks,
		"last_status_change_at":   v.time(x.LastStatusChangeAt),
		"last_status_change_by":   lastBy,
		"first_trigger_log_entry": firstTrigger,
		"alert_counts":            map[string]any{"all": x.Alerts, "triggered": triggered, "resolved": resolved},
		"is_mergeable":            true,
		"teams":                   s.teamsJSON(x.Teams),
		"pending_actions":         []any{},
		"urgency":                 x.Urgency,
		"priority":                priority,
		"resolve_reason":          resolveReason,
		"resolved_at":             v.time(x.ResolvedAt),
		"alert_grouping":          nil,
		"incident_type":           map[string]any{"name": "incident_default"},
	}
	if v.includes["conference_bridge"] {
		m["conference_bridge"] = s.conferenceJSON(x.Conference)
	}
	return m
}

// conferenceJSON renders a conference bridge; an incident without one has
// an empty object, as PagerDuty answers.
func (s *Server) conferenceJSON(cb *ConferenceBridge) map[string]any {
	m := map[string]any{}
	if cb == nil {
		return m
	}
	if cb.URL != "" {
		m["conference_url"] = cb.URL
	}
	if cb.Number != "" {
		m["conference_number"] = cb.Number
	}
	return m
}

func (s *Server) logEntryJSON(x *incident, e LogEntry, v view) map[string]any {
	channel := map[string]any{"type": e.Channel}
	var inc any = s.incidentRef(x)
	if v.includes["incidents"] {
		inc = s.incidentJSON(x, view{loc: v.loc, includes: map[string]bool{}})
	}
	var service any = s.serviceRef(x.ServiceID)
	if v.includes["services"] {
		service = s.serviceJSON(x.ServiceID)
	}
	m := map[string]any{
		"id": e.ID, "type": e.Type, "summary": e.Summary,
		"self":       s.base + "/log_entries/" + e.ID + "?incident_id=" + x.ID,
		"html_url":   x.HTMLURL + "/log_entries/" + e.ID,
		"created_at": v.time(e.CreatedAt),
		"agent":      s.agentRef(e.AgentType, e.AgentID),
		"channel":    channel,
		"service":    service,
		"incident":   inc,
		"teams":      []any{},
		"contexts":   []any{},
	}
	switch e.Type {
	case TriggerLogEntry:
		m["event_details"] = map[string]any{"description": x.Title}
	case AssignLogEntry, EscalateLogEntry:
		var as []any
		for _, id := range e.Assignees {
			as = append(as, s.userRef(id))
		}
		m["assignees"] = as
	case NotifyLogEntry:
		if e.UserID != "" {
			m["user"] = s.userRef(e.UserID)
		}
	case AcknowledgeLogEntry:
		m["acknowledgement_timeout"] = nil
	case PriorityChangeLogEntry:
		for key, name := range map[string]string{"old_priority": e.OldPriority, "new_priority": e.NewPriority} {
			channel[key] = nil
			if p, ok := s.priorityByName(name); ok {
				channel[key] = s.priorityJSON(p)
			}
		}
	case UrgencyChangeLogEntry:
		channel["old_urgency"], channel["new_urgency"] = e.OldUrgency, e.NewUrgency
	}
	if e.Note != "" {
		m["note"] = e.Note
	}
	return m
}

func (s *Server) noteJSON(n Note, v view) map[string]any {
	return map[string]any{
		"id":         n.ID,
		"user":       s.userRef(n.UserID),
		"channel":    map[string]any{"summary": "The PagerDuty website or APIs"},
		"content":    n.Content,
		"created_at": v.time(n.CreatedAt),
	}
}
