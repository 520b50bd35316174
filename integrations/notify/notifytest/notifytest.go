// Package notifytest holds the notifier's test doubles: NewSMTP starts an
// SMTP server on a real TCP port that requires STARTTLS with a certificate
// made for the test and AUTH PLAIN, and NewSlack a Slack incoming-webhook
// receiver that enforces Block Kit's documented limits. Both record what
// they got, can be told to refuse, and stop at the end of the test.
//
// The simulators themselves live in notifysim, which the production binary
// links for aftermath demo; the testing package and the strict calendar
// reader (ics.go) stay here, out of that binary. The names below are
// notifysim's, so tests need only this package.
package notifytest

import (
	"testing"

	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/integrations/notify/notifysim"
)

// Test credentials of the SMTP server.
const (
	Username = notifysim.Username
	Password = notifysim.Password
	From     = notifysim.From
)

// The simulators' types; see notifysim.
type (
	SMTP  = notifysim.SMTP
	Mail  = notifysim.Mail
	Part  = notifysim.Part
	Slack = notifysim.Slack
)

// Slack's documented limits on a message; see notifysim.
const (
	SlackMaxBlocks      = notifysim.SlackMaxBlocks
	SlackMaxText        = notifysim.SlackMaxText
	SlackMaxSectionText = notifysim.SlackMaxSectionText
	SlackMaxFields      = notifysim.SlackMaxFields
	SlackMaxFieldText   = notifysim.SlackMaxFieldText
	SlackMaxHeaderText  = notifysim.SlackMaxHeaderText
	SlackMaxContext     = notifysim.SlackMaxContext
)

// NewSMTP starts a server on 127.0.0.1 that offers STARTTLS and AUTH PLAIN
// (only over TLS) and stops it at the end of the test.
func NewSMTP(t testing.TB) *SMTP {
	t.Helper()
	s, err := notifysim.NewSMTP(notifysim.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewSlack starts a receiver; its URL is the webhook's. It stops at the end
// of the test.
func NewSlack(t testing.TB) *Slack {
	t.Helper()
	s, err := notifysim.NewSlack(notifysim.SlackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// SlackLen is notifysim.SlackLen: a text's length as Slack's limits count it.
func SlackLen(s string) int { return notifysim.SlackLen(s) }

// CheckSlack is notifysim.CheckSlack: what in m Slack would refuse.
func CheckSlack(m notify.SlackMessage) error { return notifysim.CheckSlack(m) }
