package e2e

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/e2e/e2ekit"
	"github.com/aftermath-dev/aftermath/integrations/jira/jiratest"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
)

// person is a responder: a PagerDuty user who resolves incidents and the
// Jira user who then owns the post-mortem.
type person struct{ pdID, name, email, jiraID string }

var people = []person{
	{"PALICE", "Alice Ng", "alice@example.com", "acc-alice"},
	{"PBOB", "Bob Stone", "bob@example.com", "acc-bob"},
	{"PCAROL", "Carol Diaz", "carol@example.com", "acc-carol"},
}

// incidentSpec is one seeded incident.
type incidentSpec struct {
	ID       string
	Number   int
	Title    string
	Service  string
	Priority string // P1 (SEV-1), P2 (SEV-2) or P3 (SEV-3: not processed)
	Resolver person
	TODOs    []string // TODO items of its notes
	Group    int      // index into scenario.groups; -1 for SEV-3
	Unsent   bool     // its webhook is never sent: the catch-up sweep must find it
	Created  time.Time
}

// scenario is what the suite seeds and what it expects afterwards.
type scenario struct {
	seed      uint64
	incidents []*incidentSpec
	byID      map[string]*incidentSpec
	// groups are the processed groups, each the IDs of its incidents;
	// a lone incident is a group of one.
	groups [][]string
	sev3   []string
	scopes [][2]string // services of each multi-incident group's scope
}

const (
	groupCount     = 8
	singletonCount = 28
	sev3Count      = 4
	bot            = e2ekit.BotUserID
)

// groupSizes add up to 22: with 28 lone incidents, 50 processed.
var groupSizes = [groupCount]int{2, 3, 4, 3, 2, 3, 2, 3}

// newScenario draws the incidents with rng: 8 groups (each in a grouping
// scope of its own, so that no two groups can merge), 28 lone incidents
// on services in no scope, 4 SEV-3 incidents; priorities P1 or P2 at
// random; TODO notes, some repeated within a group. The webhooks of one
// whole group and of three lone incidents are never sent.
func newScenario(seed uint64) *scenario {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	sc := &scenario{seed: seed, byID: map[string]*incidentSpec{}}
	base := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Minute)
	n := 0
	add := func(in *incidentSpec) {
		n++
		in.Number = 1000 + n
		in.ID = fmt.Sprintf("Q%03dE2E", n)
		in.Resolver = people[rng.IntN(len(people))]
		sc.incidents = append(sc.incidents, in)
		sc.byID[in.ID] = in
		if in.Group >= 0 {
			for len(sc.groups) <= in.Group {
				sc.groups = append(sc.groups, nil)
			}
			sc.groups[in.Group] = append(sc.groups[in.Group], in.ID)
		} else {
			sc.sev3 = append(sc.sev3, in.ID)
		}
	}
	prio := func() string { return []string{"P1", "P2"}[rng.IntN(2)] }
	for g, size := range groupSizes {
		svcs := [2]string{fmt.Sprintf("PG%dA", g), fmt.Sprintf("PG%dB", g)}
		sc.scopes = append(sc.scopes, svcs)
		shared := fmt.Sprintf("add a canary stage for shop-%d", g)
		for k := range size {
			in := &incidentSpec{Title: fmt.Sprintf("Shop %d degraded (%d/%d)", g, k+1, size), Service: svcs[k%2], Priority: prio(),
				Group: g, Created: base.Add(time.Duration(g*10+k*2) * time.Minute), Unsent: g == 0}
			switch {
			case k < 2 && size >= 3:
				in.TODOs = []string{shared} // the same item twice: one ticket
			case k == 0:
				in.TODOs = []string{shared}
			case k == 2:
				in.TODOs = []string{fmt.Sprintf("alert on queue depth of shop-%d", g)}
			}
			add(in)
		}
	}
	for i := range singletonCount {
		in := &incidentSpec{Title: fmt.Sprintf("Lone incident %d", i), Service: fmt.Sprintf("PS%d", i%4), Priority: prio(),
			Group: groupCount + i, Created: base.Add(time.Duration(i) * time.Minute), Unsent: i%9 == 4}
		if i%3 == 0 {
			in.TODOs = []string{fmt.Sprintf("document the runbook for lone incident %d", i)}
		}
		add(in)
	}
	for i := range sev3Count {
		add(&incidentSpec{Title: fmt.Sprintf("Minor glitch %d", i), Service: fmt.Sprintf("PS%d", i), Priority: "P3", Group: -1,
			Created: base.Add(time.Duration(30+i) * time.Minute), TODOs: []string{"never ticketed: SEV-3"}})
	}
	return sc
}

// rules are the rules file: SEV-1 and SEV-2 processed, a scope per group,
// standard follow-ups, a short catch-up interval, mail and Slack.
func (sc *scenario) rules() string {
	var scopes strings.Builder
	for g, svcs := range sc.scopes {
		fmt.Fprintf(&scopes, "    - name: shop-%d\n      services: [%s, %s]\n", g, svcs[0], svcs[1])
	}
	return fmt.Sprintf(`version: 1
severities:
  - name: SEV-1
    priorities: [P1]
    meeting_due: 3 calendar days
  - name: SEV-2
    priorities: [P2]
    meeting_due: 5 business days
  - name: SEV-3
    priorities: [P3]
    meeting_due: 10 business days
process: [SEV-1, SEV-2]
grouping:
  window: 30m
  scopes:
%sowner:
  from: [resolver]
jira:
  deployment: cloud
  project: PM
followups:
  standard:
    - summary: Write and send the external message
      severities: [SEV-1]
    - summary: Review the alerts that paged
catch_up:
  enabled: true
  every: 15s
  look_back: 1h
notify:
  - email: [sre@example.com]
  - slack_webhook_env: %s
`, scopes.String(), e2ekit.SlackEnv)
}

// seedSims puts the people, services and incidents into the simulators, all
// open; resolveAll resolves them.
func (sc *scenario) seedSims(s *e2ekit.Sims) {
	for _, p := range people {
		s.PD.AddUser(pagerdutytest.User{ID: p.pdID, Name: p.name, Email: p.email})
		s.Jira.AddUser(jiratest.User{AccountID: p.jiraID, Name: strings.ToLower(strings.Fields(p.name)[0]), Email: p.email, DisplayName: p.name, Active: true})
	}
	services := map[string]bool{}
	for _, in := range sc.incidents {
		if !services[in.Service] {
			services[in.Service] = true
			s.PD.AddService(pagerdutytest.Service{ID: in.Service, Name: "service " + in.Service})
		}
		s.PD.AddIncident(pagerdutytest.NewIncident{ID: in.ID, Number: in.Number, Title: in.Title, ServiceID: in.Service,
			Priority: in.Priority, CreatedAt: in.Created})
		s.PD.Acknowledge(in.ID, in.Resolver.pdID, in.Created.Add(2*time.Minute))
		for _, todo := range in.TODOs {
			s.PD.Annotate(in.ID, in.Resolver.pdID, "Mitigated for now.\nTODO: "+todo, in.Created.Add(5*time.Minute))
		}
	}
}

// resolveAll resolves every incident, each by its resolver, at once.
func (sc *scenario) resolveAll(s *e2ekit.Sims) {
	for _, in := range sc.incidents {
		s.PD.Resolve(in.ID, in.Resolver.pdID, time.Time{})
	}
}

// severity maps a priority to its severity rank (1 = SEV-1).
func severity(priority string) int {
	return map[string]int{"P1": 1, "P2": 2, "P3": 3}[priority]
}

// expectedFollowups are the ticket summaries of a group's post-mortem of
// final severity sev: the standard ones, then one per distinct TODO item.
func (sc *scenario) expectedFollowups(group []string, sev int) []string {
	out := []string{"Review the alerts that paged"}
	if sev == 1 {
		out = append(out, "Write and send the external message")
	}
	for _, id := range group {
		for _, todo := range sc.byID[id].TODOs {
			s := strings.ToUpper(todo[:1]) + todo[1:]
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out
}

// meetingDue is the meeting deadline of a post-mortem of severity sev
// resolved at: 3 calendar days for SEV-1, 5 business days (weekends
// skipped; the rules name no holidays) for SEV-2, in UTC.
func meetingDue(sev int, at time.Time) time.Time {
	at = at.UTC()
	if sev == 1 {
		return at.AddDate(0, 0, 3)
	}
	for n := 0; n < 5; {
		at = at.AddDate(0, 0, 1)
		if wd := at.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return at
}
