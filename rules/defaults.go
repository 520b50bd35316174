package rules

import "time"

// Defaults, in one place. A key the file does not write takes its default; a
// key written empty is a problem where a value is required.
var (
	defaultSeverities = []Severity{
		{Name: "SEV-1", Priorities: []string{"P1"}, MeetingDue: Due{Days: 3}, JiraPriority: "Highest"},
		{Name: "SEV-2", Priorities: []string{"P2"}, MeetingDue: Due{Days: 5, Business: true}, JiraPriority: "High"},
	}
	defaultStatusMap = map[string]string{
		"To Do":       StatusDraft,
		"Open":        StatusDraft,
		"In Progress": StatusDraft,
		"In Review":   StatusInReview,
		"Reviewed":    StatusReviewed,
		"Done":        StatusClosed,
		"Closed":      StatusClosed,
	}
	defaultMarkers = []string{"TODO", "FOLLOWUP", "FOLLOW-UP", "ACTION ITEM"}
)

// applyDefaults fills every key the file did not write. given reports whether
// the file wrote a key (with a non-empty value).
func applyDefaults(r *Rules, given func(path string) bool) {
	if !given("version") {
		r.Version = 1
	}
	if !given("timezone") {
		r.Timezone = "UTC"
	}
	fillSeverities(r, given)
	fillGroupingAndOwner(r, given)
	fillJira(r, given)
	fillFollowups(r, given)
	fillSchedules(r, given)
	fillPage(r, given)
	fillConfluence(r, given)
	if !given("status_map") {
		r.StatusMap = make(map[string]string, len(defaultStatusMap))
		for k, v := range defaultStatusMap {
			r.StatusMap[k] = v
		}
	}
}

// fillSeverities fills severities and process: by default every severity
// is in process, each once.
func fillSeverities(r *Rules, given func(path string) bool) {
	if !given("severities") {
		r.Severities = append([]Severity(nil), defaultSeverities...)
		for i := range r.Severities {
			r.Severities[i].Priorities = append([]string(nil), defaultSeverities[i].Priorities...)
		}
	}
	if !given("process") {
		r.Process = nil
		seen := map[string]bool{}
		for _, s := range r.Severities {
			if s.Name != "" && !seen[s.Name] {
				r.Process = append(r.Process, s.Name)
				seen[s.Name] = true
			}
		}
	}
}

// fillGroupingAndOwner fills grouping and owner: what a post-mortem covers
// and who owns it.
func fillGroupingAndOwner(r *Rules, given func(path string) bool) {
	if !given("grouping.window") {
		r.Grouping.Window = Duration(30 * time.Minute)
	}
	if !given("grouping.resolve_open_members") {
		r.Grouping.ResolveOpenMembers = true
	}
	if !given("owner.from") {
		r.Owner.From = []string{SourceOverride, SourceResolver, SourceLastAssignee}
	}
}

func fillJira(r *Rules, given func(path string) bool) {
	if !given("jira.deployment") {
		r.Jira.Deployment = DeploymentAuto
	}
	if !given("jira.project") {
		r.Jira.Project = "PM"
	}
	if !given("jira.epic_issue_type") {
		r.Jira.EpicIssueType = "Epic"
	}
	if !given("jira.followup_issue_type") {
		r.Jira.FollowupIssueType = "Task"
	}
	if !given("jira.labels") {
		r.Jira.Labels = []string{"postmortem"}
	}
}

func fillFollowups(r *Rules, given func(path string) bool) {
	if !given("followups.from_notes") {
		r.Followups.FromNotes = true
	}
	if !given("followups.markers") {
		r.Followups.Markers = append([]string(nil), defaultMarkers...)
	}
	if !given("followups.max") {
		r.Followups.Max = 10
	}
	if !given("followups.remind_every") {
		r.Followups.RemindEvery = Duration(7 * 24 * time.Hour)
	}
	if !given("followups.max_reminders") {
		r.Followups.MaxReminders = 3
	}
	if !given("recurrence.window") {
		r.Recurrence.Window = Duration(90 * 24 * time.Hour)
	}
	if !given("digest.every") {
		r.Digest.Every = Every{Weekly: true, Weekday: time.Monday, Hour: 9}
	}
}

// fillSchedules fills what runs on a clock: the reminders, the status
// sync and the catch-up sweep.
func fillSchedules(r *Rules, given func(path string) bool) {
	if !given("reminders.review_before_meeting") {
		r.Reminders.ReviewBeforeMeeting = Duration(24 * time.Hour)
	}
	if !given("reminders.repeat_overdue_every") {
		r.Reminders.RepeatOverdueEvery = Duration(24 * time.Hour)
	}
	if !given("reminders.max_overdue") {
		r.Reminders.MaxOverdue = 5
	}
	if !given("status_sync.every") {
		r.StatusSync.Every = Duration(5 * time.Minute)
	}
	if !given("catch_up.enabled") {
		r.CatchUp.Enabled = true
	}
	if !given("catch_up.every") {
		r.CatchUp.Every = Duration(10 * time.Minute)
	}
	if !given("catch_up.look_back") {
		r.CatchUp.LookBack = Duration(48 * time.Hour)
	}
}

// fillPage turns on every section of the post-mortem page the file does
// not turn off.
func fillPage(r *Rules, given func(path string) bool) {
	for key, on := range map[string]*bool{
		"page.conference_bridge": &r.Page.ConferenceBridge, "page.durations": &r.Page.Durations,
		"page.data_and_queries": &r.Page.DataAndQueries, "page.impact_fields": &r.Page.ImpactFields,
		"page.meeting": &r.Page.Meeting, "page.language_review": &r.Page.LanguageReview,
	} {
		if !given(key) {
			*on = true
		}
	}
}
