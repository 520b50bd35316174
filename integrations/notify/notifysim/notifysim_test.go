package notifysim_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aftermath-dev/aftermath/integrations/notify"
	"github.com/aftermath-dev/aftermath/integrations/notify/notifysim"
)

// The demo's relay: plain SMTP with no sign-in (SMTP_TLS=none) takes the
// notifier's mail, and each message lands in the folder as the .eml a mail
// client opens, named in the order received.
func TestPlainSMTPKeepsEachMailInTheFolder(t *testing.T) {
	dir := t.TempDir()
	s, err := notifysim.NewSMTP(notifysim.SMTPOptions{Plain: true, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.CA != nil {
		t.Error("a plain relay has no certificate to trust")
	}
	c := notify.New(s.Config(), nil, nil)
	for _, subj := range []string{"first", "second"} {
		if err := c.Email(context.Background(), notify.Email{To: []string{"alice@example.com"}, Subject: subj, Text: "hello"}); err != nil {
			t.Fatalf("send %s: %v", subj, err)
		}
	}
	mails := s.Mails()
	if len(mails) != 2 || mails[1].Subject() != "second" || mails[1].To[0] != "alice@example.com" {
		t.Fatalf("mails %+v", mails)
	}
	for i, m := range mails {
		want := filepath.Join(dir, []string{"mail-01.eml", "mail-02.eml"}[i])
		b, err := os.ReadFile(want)
		if m.File != want || err != nil || string(b) != m.Data {
			t.Errorf("mail %d: file %q (want %q): %v", i, m.File, want, err)
		}
	}
}

// The TLS server refuses a client that will not sign in: MAIL needs AUTH,
// and AUTH needs TLS.
func TestSMTPWithoutPlainRequiresSignIn(t *testing.T) {
	s, err := notifysim.NewSMTP(notifysim.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := s.Config()
	cfg.Username, cfg.Password = "", ""
	err = notify.New(cfg, nil, nil).Email(context.Background(), notify.Email{To: []string{"a@example.com"}, Subject: "x", Text: "x"})
	if err == nil || len(s.Mails()) != 0 {
		t.Fatalf("mail without sign-in: %v, %d kept", err, len(s.Mails()))
	}
	if err := notify.New(s.Config(), nil, nil).Email(context.Background(), notify.Email{To: []string{"a@example.com"}, Subject: "x", Text: "x"}); err != nil ||
		s.Authenticated() != 1 {
		t.Fatalf("mail signed in over STARTTLS: %v, %d sign-ins", err, s.Authenticated())
	}
}

// The receiver keeps what Slack would take, as JSON in the folder, and
// refuses (keeping nothing) what Slack would refuse.
func TestSlackKeepsEachPostInTheFolder(t *testing.T) {
	dir := t.TempDir()
	s, err := notifysim.NewSlack(notifysim.SlackOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := notify.New(notify.Config{Getenv: func(string) (string, bool) { return s.URL, true }}, nil, nil)
	if err := c.Slack(context.Background(), "HOOK", notify.SlackMessage{Text: "Post-mortem PM-1 is open"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Slack(context.Background(), "HOOK", notify.SlackMessage{}); err == nil {
		t.Fatal("a post without text was taken")
	}
	files := s.Files()
	if len(files) != 1 || len(s.Posts()) != 1 || len(s.Refused()) != 1 {
		t.Fatalf("files %q posts %d refused %q", files, len(s.Posts()), s.Refused())
	}
	var got notify.SlackMessage
	b, err := os.ReadFile(filepath.Join(dir, "slack-01.json"))
	if err != nil || json.Unmarshal(b, &got) != nil || got.Text != "Post-mortem PM-1 is open" || !strings.HasSuffix(files[0], "slack-01.json") {
		t.Fatalf("slack-01.json: %v %s", err, b)
	}
}
