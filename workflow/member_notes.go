package workflow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aftermath-dev/aftermath/integrations/pagerduty"
	"github.com/aftermath-dev/aftermath/render"
	"github.com/aftermath-dev/aftermath/store"
)

// memberNotes writes each member's note pointing at the primary and its
// post-mortem. The group is read again: an incident that joined while this
// run went on is included.
func (x *run) memberNotes(ctx context.Context, primary pagerduty.Incident, ref PostmortemRef) error {
	g, _, err := x.store.GroupOf(ctx, x.id)
	if err != nil {
		return err
	}
	n := 0
	var failed []string
	for _, id := range g.Members {
		if id == x.id {
			continue
		}
		m, err := x.r.memberIncident(ctx, x.plan.Members, id)
		if isGone(err) {
			continue
		}
		if err != nil {
			return x.failRead(ctx, StepMemberNotes, err)
		}
		if err := x.lockedMemberNote(ctx, primary, m, ref, x.r.Jira != nil && !slices.Contains(ref.Incidents, id)); err != nil {
			if !refused(err) {
				return err
			}
			// PagerDuty refuses this member's note (another team's
			// service, a full note list): recorded on the member, and
			// the others and the link-back still get written.
			x.log.Warn("PagerDuty refused a member's note; going on", "member", id, "err", err)
			failed = append(failed, "#"+strconv.Itoa(m.Number))
			continue
		}
		n++
	}
	if len(failed) > 0 {
		return x.trace(ctx, StepMemberNotes, store.StepFailed,
			fmt.Sprintf("%d member notes in place; PagerDuty refused the notes of %s (see their records)", n, strings.Join(failed, ", ")), "")
	}
	return x.trace(ctx, StepMemberNotes, store.StepDone, fmt.Sprintf("%d member notes in place", n), "")
}

func (r *Resolution) memberIncident(ctx context.Context, known []Member, id string) (pagerduty.Incident, error) {
	for _, m := range known {
		if m.Incident.ID == id {
			return m.Incident, nil
		}
	}
	return r.PagerDuty.Incident(ctx, id)
}

// lockedMemberNote writes a member's note under the member's incident lock:
// the member's own processing may be writing the same note.
func (x *run) lockedMemberNote(ctx context.Context, primary, m pagerduty.Incident, ref PostmortemRef, joinEpic bool) error {
	note := func(ctx context.Context) error {
		if err := x.memberNote(ctx, primary, m, ref); err != nil {
			return err
		}
		if joinEpic {
			// It joined the group while this process ran, after the
			// epic was made: it joins the epic too.
			return x.attachToEpic(ctx, primary, m, ref)
		}
		return nil
	}
	wait := cmp.Or(x.r.MemberLockWait, 10*time.Second)
	deadline := x.r.now().Add(wait)
	for {
		lock, err := x.store.LockIncident(ctx, m.ID, memberLockTTL)
		if err == nil {
			return x.holding(ctx, lock, note)
		}
		if !errors.Is(err, store.ErrLocked) {
			return err
		}
		if x.r.now().After(deadline) {
			return fmt.Errorf("member %s stays locked by its own processing; will retry: %w", m.ID, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// memberLockTTL is the member lock's lifetime; it is refreshed every third
// of it while the note is written, however long PagerDuty makes us wait.
const memberLockTTL = 10 * time.Second

// holding runs f while keeping lock alive, then releases it. If the lock
// cannot be refreshed, f's context is cancelled: another process may take
// the member over.
func (x *run) holding(ctx context.Context, lock *store.Lock, f func(context.Context) error) error {
	if lock == nil {
		// A run that writes nothing takes no lock.
		return f(ctx)
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(memberLockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := lock.Refresh(fctx, memberLockTTL); err != nil {
					x.log.Warn("lost a member's lock while writing its note", "err", err)
					cancel()
					return
				}
			}
		}
	}()
	err := f(fctx)
	close(done)
	_ = lock.Release(context.WithoutCancel(ctx))
	return err
}

// memberNote writes one member's note, once; the checkpoint is in the
// member's own record.
func (x *run) memberNote(ctx context.Context, primary, m pagerduty.Incident, ref PostmortemRef) error {
	marker := noteMarker("member", primary.ID)
	text := render.MemberNote(render.Incident{Number: primary.Number, Title: primary.Title, URL: primary.HTMLURL},
		render.Epic{Key: ref.Key, URL: ref.URL}, marker)
	_, err := x.write(ctx, write{
		incident: m.ID, name: StepMemberNote,
		intent: fmt.Sprintf("add a note to #%d pointing at #%d and post-mortem %s", m.Number, primary.Number, ref.Key),
		lookup: x.findNote(m.ID, marker),
		do:     x.addNote(m.ID, text),
	})
	return err
}
