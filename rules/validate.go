package rules

import (
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
	_ "time/tzdata" // zones resolve on images without /usr/share/zoneinfo
	"unicode"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/at"
	"github.com/rickar/cal/v2/be"
	"github.com/rickar/cal/v2/br"
	"github.com/rickar/cal/v2/ca"
	"github.com/rickar/cal/v2/ch"
	"github.com/rickar/cal/v2/cz"
	"github.com/rickar/cal/v2/de"
	"github.com/rickar/cal/v2/dk"
	"github.com/rickar/cal/v2/es"
	"github.com/rickar/cal/v2/fr"
	"github.com/rickar/cal/v2/gb"
	"github.com/rickar/cal/v2/ie"
	"github.com/rickar/cal/v2/it"
	"github.com/rickar/cal/v2/jp"
	"github.com/rickar/cal/v2/nl"
	"github.com/rickar/cal/v2/no"
	"github.com/rickar/cal/v2/nz"
	"github.com/rickar/cal/v2/pl"
	"github.com/rickar/cal/v2/se"
	"github.com/rickar/cal/v2/us"
	"github.com/rickar/cal/v2/za"

	"github.com/aftermath-dev/aftermath/render"
)

// HolidayCalendars are the built-in public holiday calendars, by the country
// code written in holidays.calendar.
var HolidayCalendars = map[string][]*cal.Holiday{
	"at": at.Holidays, "be": be.Holidays, "br": br.Holidays, "ca": ca.Holidays, "ch": ch.Holidays,
	"cz": cz.Holidays, "de": de.Holidays, "dk": dk.Holidays, "es": es.Holidays, "fr": fr.Holidays,
	"gb": gb.Holidays, "ie": ie.Holidays, "it": it.Holidays, "jp": jp.Holidays, "nl": nl.Holidays,
	"no": no.Holidays, "nz": nz.Holidays, "pl": pl.Holidays, "se": se.Holidays, "us": us.Holidays,
	"za": za.Holidays,
}

// Value formats. The same expressions are in the JSON Schema (through the
// pattern tags of types.go), so editors and the loader agree.
const (
	serviceIDPattern  = `^[A-Z0-9]{2,32}$`
	projectKeyPattern = `^[A-Z][A-Z0-9_]{1,19}$`
	customFldPattern  = `^customfield_[0-9]+$`
	envNamePattern    = `^[A-Z_][A-Z0-9_]*$`
	emailPattern      = `^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$`
	labelPattern      = `^[^\s]{1,255}$`
)

var (
	serviceIDRe  = regexp.MustCompile(serviceIDPattern)
	projectKeyRe = regexp.MustCompile(projectKeyPattern)
	customFldRe  = regexp.MustCompile(customFldPattern)
	envNameRe    = regexp.MustCompile(envNamePattern)
	emailRe      = regexp.MustCompile(emailPattern)
	labelRe      = regexp.MustCompile(labelPattern)
)

var statuses = []string{StatusDraft, StatusInReview, StatusReviewed, StatusClosed}

// validate checks values and references and compiles r, reporting every
// problem at the position the file wrote it.
func (d *decoder) validate(r *Rules) {
	c := &r.c
	c.bySeverity = map[string]*Severity{}
	c.byPriority = map[string]*Severity{}
	c.scopeOf = map[string]*Scope{}
	c.projectOf = map[string]string{}
	c.ownerOf = map[string]string{}
	c.inProcess = map[string]bool{}

	if r.Version != 1 {
		d.problem("version", "version %d is not supported: write version: 1", r.Version)
	}
	d.required("timezone", r.Timezone)
	if r.Timezone != "" {
		loc, err := time.LoadLocation(r.Timezone)
		if err != nil || strings.EqualFold(r.Timezone, "local") {
			d.problem("timezone", "unknown time zone %q: use an IANA name such as UTC, Europe/Berlin or America/New_York", r.Timezone)
		} else {
			c.loc = loc
		}
	}
	d.validateHolidays(r)

	d.validateSeverities(r)
	d.validateProcess(r)
	d.validateGrouping(r)
	d.validateOwner(r)
	d.validateJira(r)
	d.validateFollowups(r)
	d.validateReminders(r)
	d.validateLoop(r)
	d.validateCatchUp(r.CatchUp)
	d.validateStatusMap(r)
	d.validateNotify(r)
	d.validatePage(r.Page)
	d.validateConfluence(r)
	d.validateExternalMessage(r)
	c.summaryTmpl = d.template("templates.epic_summary", r.Templates.EpicSummary)
	c.descTmpl = d.template("templates.epic_description", r.Templates.EpicDescription)
}

// validateSeverities checks the severities section.
func (d *decoder) validateSeverities(r *Rules) {
	c := &r.c
	if len(r.Severities) == 0 {
		d.problem("severities", "severities is empty: define at least one level")
	}
	seenPrio := map[string]string{}
	for i := range r.Severities {
		s := &r.Severities[i]
		p := fmt.Sprintf("severities[%d]", i)
		d.required(p+".name", s.Name)
		if s.Name != "" {
			if _, dup := c.bySeverity[s.Name]; dup {
				d.problem(p+".name", "severity %q is defined twice", s.Name)
			}
			c.bySeverity[s.Name] = s
		}
		label := fmt.Sprintf("severity %q", s.Name)
		if s.Name == "" {
			label = p
		}
		if len(s.Priorities) == 0 {
			d.problem(p+".priorities", "%s maps no PagerDuty priority: list at least one, e.g. [P1]", label)
		}
		for j, prio := range s.Priorities {
			pp := fmt.Sprintf("%s.priorities[%d]", p, j)
			if strings.TrimSpace(prio) == "" {
				d.problem(pp, "a priority name is empty")
				continue
			}
			if other, dup := seenPrio[prio]; dup {
				d.problem(pp, "priority %q already maps to %s (first match wins, so this is never used)", prio, other)
				continue
			}
			seenPrio[prio] = s.Name
			c.byPriority[prio] = s
		}
		if s.MeetingDue.Days == 0 && !d.written(p+".meeting_due") {
			d.problem(p, "%s has no meeting_due: write e.g. meeting_due: 3 calendar days", label)
		}
	}
}

// validateProcess checks the process section.
func (d *decoder) validateProcess(r *Rules) {
	c := &r.c
	if d.written("process") && len(r.Process) == 0 {
		d.problem("process", "process is empty: no incident would get a post-mortem; list severities, e.g. [SEV-1, SEV-2]")
	}
	for i, name := range r.Process {
		p := fmt.Sprintf("process[%d]", i)
		if _, ok := c.bySeverity[name]; !ok {
			d.problem(p, "process names severity %q, which severities does not define%s", name, known(c.bySeverity))
			continue
		}
		if c.inProcess[name] {
			d.problem(p, "severity %q is listed twice", name)
		}
		c.inProcess[name] = true
	}
}

// validateGrouping checks the grouping section.
func (d *decoder) validateGrouping(r *Rules) {
	c := &r.c
	if w := time.Duration(r.Grouping.Window); w > 7*24*time.Hour {
		d.problem("grouping.window", "window %s is longer than 7 days: incidents that far apart are not one outage", r.Grouping.Window)
	}
	scopeNames := map[string]bool{}
	for i := range r.Grouping.Scopes {
		sc := &r.Grouping.Scopes[i]
		p := fmt.Sprintf("grouping.scopes[%d]", i)
		d.required(p+".name", sc.Name)
		if sc.Name != "" && scopeNames[sc.Name] {
			d.problem(p+".name", "scope %q is defined twice", sc.Name)
		}
		scopeNames[sc.Name] = true
		d.services(p+".services", sc.Services, func(id string, at string) {
			if other, dup := c.scopeOf[id]; dup {
				if other == sc {
					d.problem(at, "service %s is listed twice in this scope", id)
				} else {
					d.problem(at, "service %s is already in scope %q: a service may be in one scope only", id, other.Name)
				}
				return
			}
			c.scopeOf[id] = sc
		})
	}
}

// validateOwner checks the owner section.
func (d *decoder) validateOwner(r *Rules) {
	c := &r.c
	seenSrc := map[string]bool{}
	for i, src := range r.Owner.From {
		p := fmt.Sprintf("owner.from[%d]", i)
		switch src {
		case SourceOverride, SourceResolver, SourceLastAssignee:
		default:
			d.problem(p, "unknown owner source %q: use override, resolver or last_assignee", src)
			continue
		}
		if seenSrc[src] {
			d.problem(p, "owner source %q is listed twice", src)
		}
		seenSrc[src] = true
	}
	if d.written("owner.from") && len(r.Owner.From) == 0 && r.Owner.Fallback == "" {
		d.problem("owner.from", "owner.from is empty and there is no fallback: every post-mortem would be unassigned")
	}
	if r.Owner.Fallback != "" && !emailRe.MatchString(r.Owner.Fallback) {
		d.problem("owner.fallback", "%q is not an email address", r.Owner.Fallback)
	}
	if len(r.Owner.Overrides) > 0 && !seenSrc[SourceOverride] {
		d.problem("owner.overrides", "owner.overrides are never used: add override to owner.from")
	}
	for i, o := range r.Owner.Overrides {
		p := fmt.Sprintf("owner.overrides[%d]", i)
		d.required(p+".owner", o.Owner)
		if o.Owner != "" && !emailRe.MatchString(o.Owner) {
			d.problem(p+".owner", "%q is not an email address", o.Owner)
		}
		d.services(p+".services", o.Services, func(id, at string) {
			if _, dup := c.ownerOf[id]; dup {
				d.problem(at, "service %s already has an owner override", id)
				return
			}
			c.ownerOf[id] = o.Owner
		})
	}
}

// validateJira checks the jira section.
func (d *decoder) validateJira(r *Rules) {
	c := &r.c
	switch r.Jira.Deployment {
	case DeploymentAuto, DeploymentCloud, DeploymentDataCenter:
	default:
		d.problem("jira.deployment", "unknown deployment %q: use auto, cloud or datacenter", r.Jira.Deployment)
	}
	d.projectKey("jira.project", r.Jira.Project)
	d.required("jira.epic_issue_type", r.Jira.EpicIssueType)
	d.required("jira.followup_issue_type", r.Jira.FollowupIssueType)
	for i, l := range r.Jira.Labels {
		d.label(fmt.Sprintf("jira.labels[%d]", i), l)
	}
	for i, rt := range r.Jira.Routes {
		p := fmt.Sprintf("jira.routes[%d]", i)
		d.projectKey(p+".project", rt.Project)
		d.services(p+".services", rt.Services, func(id, at string) {
			if other, dup := c.projectOf[id]; dup {
				d.problem(at, "service %s is already routed to project %s", id, other)
				return
			}
			c.projectOf[id] = rt.Project
		})
	}
	for _, f := range []struct{ path, v string }{{"jira.epic_link_field", r.Jira.EpicLinkField}, {"jira.epic_name_field", r.Jira.EpicNameField}} {
		if f.v != "" && !customFldRe.MatchString(f.v) {
			d.problem(f.path, "%q is not a custom field ID: write customfield_ followed by digits, e.g. customfield_10014", f.v)
		}
	}
}

// validateFollowups checks the follow-ups section.
func (d *decoder) validateFollowups(r *Rules) {
	c := &r.c
	if r.Followups.Max < 0 || r.Followups.Max > 50 {
		d.problem("followups.max", "max %d is out of range: from 0 to 50 (one Jira bulk request)", r.Followups.Max)
	}
	if r.Followups.FromNotes && len(r.Followups.Markers) == 0 {
		d.problem("followups.markers", "markers is empty while from_notes is true: no note line could be a TODO item")
	}
	for i, m := range r.Followups.Markers {
		if strings.TrimSpace(m) == "" {
			d.problem(fmt.Sprintf("followups.markers[%d]", i), "a marker is empty")
		}
	}
	for i, st := range r.Followups.Standard {
		p := fmt.Sprintf("followups.standard[%d]", i)
		d.required(p+".summary", st.Summary)
		if strings.ContainsAny(strings.TrimRight(st.Summary, "\n"), "\r\n") {
			d.problem(p+".summary", "a summary must be one line (Jira refuses line breaks in summaries); put the rest in description")
		}
		if len(st.Summary) > 255 {
			d.problem(p+".summary", "summary is %d characters; Jira allows 255", len(st.Summary))
		}
		for j, sev := range st.Severities {
			if _, ok := c.bySeverity[sev]; !ok {
				d.problem(fmt.Sprintf("%s.severities[%d]", p, j), "follow-up names severity %q, which severities does not define%s", sev, known(c.bySeverity))
			}
		}
	}
}

// validateLoop checks what keeps the follow-ups going: their due dates and
// reminders, the recurrence window and the digest.
func (d *decoder) validateLoop(r *Rules) {
	for _, sev := range slices.Sorted(maps.Keys(r.Followups.Due)) {
		if _, ok := r.c.bySeverity[sev]; !ok {
			msg := fmt.Sprintf("followups.due names severity %q, which severities does not define%s", sev, known(r.c.bySeverity))
			if at, ok := d.keyAt["followups.due."+sev]; ok {
				d.add(at, "%s", msg) // the key is what is wrong
			} else {
				d.problem("followups.due", "%s", msg)
			}
		}
	}
	if e := r.Followups.RemindEvery; e < Duration(time.Hour) {
		d.problem("followups.remind_every", "%s is too often: at least 1h", e)
	}
	if n := r.Followups.MaxReminders; n < 0 || n > 100 {
		d.problem("followups.max_reminders", "%d is not from 0 to 100", n)
	}
	if w := r.Recurrence.Window; w < Duration(time.Hour) || w > Duration(365*24*time.Hour) {
		d.problem("recurrence.window", "%s is out of range: from 1h to 8760h (a year)", w)
	}
	for i, e := range r.Digest.Email {
		if !emailRe.MatchString(e) {
			d.problem(fmt.Sprintf("digest.email[%d]", i), "%q is not an email address", e)
		}
	}
	if v := r.Digest.SlackWebhookEnv; v != "" && !envNameRe.MatchString(v) {
		d.problem("digest.slack_webhook_env", "%q is not an environment variable's name (letters, digits and _, not starting with a digit)", v)
	}
	for _, team := range slices.Sorted(maps.Keys(r.Digest.Teams)) {
		t, p := r.Digest.Teams[team], "digest.teams."+team
		if len(t.Email) == 0 && t.SlackWebhookEnv == "" {
			d.problem(p, "team %s's digest has no email and no slack_webhook_env: nobody would get it", team)
		}
		for i, e := range t.Email {
			if !emailRe.MatchString(e) {
				d.problem(fmt.Sprintf("%s.email[%d]", p, i), "%q is not an email address", e)
			}
		}
		if v := t.SlackWebhookEnv; v != "" && !envNameRe.MatchString(v) {
			d.problem(p+".slack_webhook_env", "%q is not an environment variable's name (letters, digits and _, not starting with a digit)", v)
		}
	}
}

// validateReminders checks the reminders section.
func (d *decoder) validateReminders(r *Rules) {
	if r.Reminders.RepeatOverdueEvery < Duration(time.Hour) {
		d.problem("reminders.repeat_overdue_every", "%s is too often: at least 1h", r.Reminders.RepeatOverdueEvery)
	}
	if n := r.Reminders.MaxOverdue; n < 0 || n > 100 {
		d.problem("reminders.max_overdue", "%d is not from 0 to 100", n)
	}
	switch e := r.StatusSync.Every; {
	case e < Duration(time.Second):
		d.problem("status_sync.every", "%s is too often: at least 1s", e)
	case e > Duration(24*time.Hour):
		d.problem("status_sync.every", "%s is too rare: at most 24h", e)
	}
	if l := r.CustomerLiaison; l != "" && !emailRe.MatchString(l) {
		d.problem("customer_liaison", "%q is not an email address", l)
	}
	if r.Reminders.ReviewBeforeMeeting > Duration(30*24*time.Hour) {
		d.problem("reminders.review_before_meeting", "%s is more than 30 days", r.Reminders.ReviewBeforeMeeting)
	} else {
		// The review must fall after the incident resolved: before the
		// shortest meeting deadline (a business day is at least a day).
		for i, sev := range r.Severities {
			if sev.MeetingDue.Days > 0 && time.Duration(r.Reminders.ReviewBeforeMeeting) > time.Duration(sev.MeetingDue.Days)*24*time.Hour {
				at := "reminders.review_before_meeting"
				if !d.written(at) {
					at = fmt.Sprintf("severities[%d].meeting_due", i)
				}
				d.problem(at, "the review (%s before the meeting) would be due before the incident resolved for %s (meeting due %s): shorten reminders.review_before_meeting", r.Reminders.ReviewBeforeMeeting, sev.Name, sev.MeetingDue)
				break
			}
		}
	}
}

// validateStatusMap checks the status map section.
func (d *decoder) validateStatusMap(r *Rules) {
	closed, invalid := false, false
	keys := make([]string, 0, len(r.StatusMap))
	for k := range r.StatusMap {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := r.StatusMap[k]
		p := "status_map." + k
		if strings.TrimSpace(k) == "" {
			d.problem(p, "a Jira status name is empty")
		}
		if !contains(statuses, v) {
			d.problem(p, "%q is not a post-mortem status: use Draft, In Review, Reviewed or Closed", v)
			invalid = true
		}
		closed = closed || v == StatusReviewed || v == StatusClosed
	}
	if !closed && !invalid {
		d.problem("status_map", "no Jira status maps to Reviewed or Closed: reminders would never stop")
	}
}

// validateNotify checks the notify section.
func (d *decoder) validateNotify(r *Rules) {
	for i, n := range r.Notify {
		p := fmt.Sprintf("notify[%d]", i)
		switch {
		case len(n.Email) > 0 && n.SlackWebhookEnv != "":
			d.problem(p, "an entry is either email or slack_webhook_env, not both: split it in two")
		case len(n.Email) == 0 && n.SlackWebhookEnv == "":
			d.problem(p, "an entry needs email (a list of addresses) or slack_webhook_env (an environment variable name)")
		}
		for j, e := range n.Email {
			if !emailRe.MatchString(e) {
				d.problem(fmt.Sprintf("%s.email[%d]", p, j), "%q is not an email address", e)
			}
		}
		if n.SlackWebhookEnv != "" && !envNameRe.MatchString(n.SlackWebhookEnv) {
			d.problem(p+".slack_webhook_env", "%q is not an environment variable name (like SLACK_WEBHOOK_URL); the URL itself must not be in this file", n.SlackWebhookEnv)
		}
		for j, sev := range n.Severities {
			if _, ok := r.c.bySeverity[sev]; !ok {
				d.problem(fmt.Sprintf("%s.severities[%d]", p, j), "notify names severity %q, which severities does not define%s", sev, known(r.c.bySeverity))
			}
		}
		if len(n.Services) > 0 {
			d.services(p+".services", n.Services, func(string, string) {})
		}
	}
	d.validatePeople(r)
}

// validatePeople checks the people section: every entry names services and
// at least one person, each an email.
func (d *decoder) validatePeople(r *Rules) {
	for i, sp := range r.People.Services {
		p := fmt.Sprintf("people.services[%d]", i)
		d.services(p+".services", sp.Services, func(string, string) {})
		if len(sp.Owners)+len(sp.EngineeringManagers)+len(sp.ProductManagers) == 0 {
			d.problem(p, "an entry needs owners, engineering_managers or product_managers (email lists)")
		}
		for _, l := range []struct {
			key  string
			list []string
		}{{"owners", sp.Owners}, {"engineering_managers", sp.EngineeringManagers}, {"product_managers", sp.ProductManagers}} {
			for j, e := range l.list {
				if !emailRe.MatchString(e) {
					d.problem(fmt.Sprintf("%s.%s[%d]", p, l.key, j), "%q is not an email address", e)
				}
			}
		}
	}
}

func (d *decoder) validateHolidays(r *Rules) {
	c := &r.c
	c.calendar = cal.NewBusinessCalendar()
	if name := r.Holidays.Calendar; name != "" {
		hs, ok := HolidayCalendars[name]
		if !ok {
			names := make([]string, 0, len(HolidayCalendars))
			for k := range HolidayCalendars {
				names = append(names, k)
			}
			sort.Strings(names)
			d.problem("holidays.calendar", "unknown holiday calendar %q: use one of %s", name, strings.Join(names, ", "))
		} else {
			c.calendar.AddHoliday(hs...)
		}
	}
	seen := map[Date]bool{}
	for i, dt := range r.Holidays.Dates {
		p := fmt.Sprintf("holidays.dates[%d]", i)
		if d.failed[p] {
			continue // reported by the decoder
		}
		if dt.Year < 1970 || dt.Year > 2200 {
			d.problem(p, "%s: the year is not plausible", dt)
			continue
		}
		if seen[dt] {
			d.problem(p, "%s is listed twice", dt)
		}
		seen[dt] = true
		c.calendar.AddHoliday(&cal.Holiday{
			Name: "company day off", Type: cal.ObservanceOther,
			Month: dt.Month, Day: dt.Day, StartYear: dt.Year, EndYear: dt.Year, Func: cal.CalcDayOfMonth,
		})
	}
}

// services checks a list of PagerDuty service IDs and calls each for every
// valid one with its path.
func (d *decoder) services(path string, ids []string, each func(id, at string)) {
	if len(ids) == 0 {
		what := "missing"
		if d.written(path) {
			what = "empty"
		}
		d.problem(path, "services is %s: list PagerDuty service IDs, e.g. [PSVC001]", what)
	}
	for i, id := range ids {
		at := fmt.Sprintf("%s[%d]", path, i)
		if !serviceIDRe.MatchString(id) {
			d.problem(at, "%q is not a PagerDuty service ID (upper-case letters and digits, e.g. PSVC001)", id)
			continue
		}
		each(id, at)
	}
}

func (d *decoder) projectKey(path, key string) {
	if key == "" {
		d.required(path, key)
		return
	}
	if !projectKeyRe.MatchString(key) {
		d.problem(path, "%q is not a Jira project key (upper-case letter, then letters, digits or _, e.g. PM)", key)
	}
}

func (d *decoder) label(path, l string) {
	if !labelRe.MatchString(l) {
		d.problem(path, "%q is not a Jira label: labels are non-empty, without spaces, at most 255 characters", l)
	}
}

func (d *decoder) template(path, src string) *template.Template {
	if src == "" {
		return nil
	}
	t, err := template.New(path).Funcs(render.Funcs).Option("missingkey=error").Parse(src)
	if err != nil {
		d.problem(path, "invalid template at %s", d.templateLine(path, err))
		return nil
	}
	// A template that parses may still name a value a page does not have:
	// try it on a sample page now rather than on the next SEV-1.
	// Both a full page and a bare one (no resolution note, no owner, no
	// timeline): a template must handle values that are missing.
	for _, p := range []render.Page{render.Sample(), {}} {
		if err := t.Execute(io.Discard, p); err != nil {
			d.problem(path, "template fails on a sample post-mortem at %s (docs/rules.md lists the values a template can use; check optional ones with if)", d.templateLine(path, err))
			return nil
		}
	}
	return t
}

// templateLine turns "template: NAME:LINE[:COL]: message" into the line of
// the file it is on.
func (d *decoder) templateLine(path string, err error) string {
	msg := err.Error()
	rest, ok := strings.CutPrefix(msg, "template: "+path+":")
	if !ok {
		return strings.TrimPrefix(msg, "template: ")
	}
	pos, text, _ := strings.Cut(rest, ": ")
	tl, _, _ := strings.Cut(pos, ":")
	n, convErr := strconv.Atoi(tl)
	if convErr != nil {
		return strings.TrimPrefix(msg, "template: ")
	}
	line := d.at[path].line + n - 1
	if d.literal[path] {
		line++ // a block scalar's text starts on the next line
	}
	// Execution errors repeat the template's name: drop it.
	text = strings.TrimPrefix(text, "executing \""+path+"\" ")
	return fmt.Sprintf("line %d of the file (line %d of the template): %s", line, n, text)
}

// required reports a required key that is missing or written empty. Keys
// with a default are only reported when written empty.
func (d *decoder) required(path, v string) {
	if strings.TrimSpace(v) != "" {
		return
	}
	switch {
	case d.written(path):
		d.problem(path, "%s is empty", path)
	case !hasDefault(path):
		d.problem(path, "%s is missing", path)
	}
}

// hasDefault says whether applyDefaults fills a missing key.
func hasDefault(path string) bool {
	switch path {
	case "timezone", "jira.project", "jira.epic_issue_type", "jira.followup_issue_type":
		return true
	}
	return false
}

func (d *decoder) written(path string) bool {
	_, ok := d.at[path]
	return ok
}

// problem reports msg at path's position, or the nearest written ancestor's.
// Nothing is reported under a path whose value could not be decoded: that
// problem is already reported, and more would only be noise.
func (d *decoder) problem(path, format string, args ...any) {
	for p := path; p != ""; {
		if d.failed[p] {
			return
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	for p := path; ; {
		if at, ok := d.at[p]; ok {
			d.add(at, format, args...)
			return
		}
		if at, ok := d.keyAt[p]; ok {
			d.add(at, format, args...)
			return
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			d.add(pos{1, 1}, format, args...)
			return
		}
		p = p[:i]
	}
}

func known(m map[string]*Severity) string {
	if len(m) == 0 {
		return ""
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return " (defined: " + strings.Join(names, ", ") + ")"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validateCatchUp checks the sweep's interval and window. A window shorter
// than the interval would leave resolutions between two sweeps unseen after
// a restart without a cursor.
func (d *decoder) validateCatchUp(c CatchUp) {
	switch {
	case c.Every < Duration(time.Second):
		d.problem("catch_up.every", "%s is too often: at least 1s", c.Every)
	case c.Every > Duration(24*time.Hour):
		d.problem("catch_up.every", "%s is too rare: at most 24h (PagerDuty drops a webhook after 48 hours of retries)", c.Every)
	}
	switch {
	case c.LookBack > Duration(30*24*time.Hour):
		d.problem("catch_up.look_back", "%s is more than 30 days", c.LookBack)
	case c.LookBack < c.Every:
		d.problem("catch_up.look_back", "%s is shorter than catch_up.every (%s): resolutions between two sweeps would be missed", c.LookBack, c.Every)
	}
}

// validatePage checks the language review's phrases: each a few words on
// one line, starting and ending with a letter or digit (they are matched as
// whole words), written once.
func (d *decoder) validatePage(p Page) {
	seen := map[string]bool{}
	for i, ph := range p.BlamePhrases {
		path := fmt.Sprintf("page.blame_phrases[%d]", i)
		t := strings.TrimSpace(ph)
		rs := []rune(t)
		switch {
		case t == "":
			d.problem(path, "a blame phrase is empty")
		case strings.ContainsAny(t, "\r\n"):
			d.problem(path, "blame phrase %q spans lines: write one phrase a line", t)
		case len(rs) > 60:
			d.problem(path, "blame phrase %q is longer than 60 characters", t)
		case !unicode.IsLetter(rs[0]) && !unicode.IsDigit(rs[0]) || !unicode.IsLetter(rs[len(rs)-1]) && !unicode.IsDigit(rs[len(rs)-1]):
			d.problem(path, "blame phrase %q must start and end with a letter or digit: it is matched as whole words", t)
		case seen[strings.ToLower(t)]:
			d.problem(path, "blame phrase %q is listed twice", t)
		}
		seen[strings.ToLower(t)] = true
	}
	if len(p.BlamePhrases) > 0 && !p.LanguageReview && d.written("page.language_review") {
		d.problem("page.blame_phrases", "page.blame_phrases are set but page.language_review is false: they would never be used")
	}
}

// validateExternalMessage checks the status page's ID, and that the keys
// that only work with a status page are not set without one, and that the
// status map has a Jira status for Closed to move the epic to.
func (d *decoder) validateExternalMessage(r *Rules) {
	em := r.ExternalMessage
	if em.StatusPage == "" {
		if em.NotifySubscribers {
			d.problem("external_message.notify_subscribers", "external_message.notify_subscribers is true but external_message.status_page is empty: it would never be used")
		}
		if em.CloseWithoutExternalMessage {
			d.problem("external_message.close_without_external_message", "external_message.close_without_external_message is true but external_message.status_page is empty: it would never be used")
		}
		return
	}
	if !serviceIDRe.MatchString(em.StatusPage) {
		d.problem("external_message.status_page", "%q is not a PagerDuty status page ID (upper-case letters and digits, e.g. PSTATUS1)", em.StatusPage)
	}
	if !slices.Contains(slices.Collect(maps.Values(r.StatusMap)), StatusClosed) {
		d.problem("external_message.status_page", "status_map maps no Jira status to Closed: the epic could not be moved to Closed once the message is posted")
	}
}
