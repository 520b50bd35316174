package notifysim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/aftermath-dev/aftermath/integrations/notify"
)

// WebhookPath is the path of the receiver's webhook URL: Slack's shape,
// /services/<team>/<bot>/<token>.
const WebhookPath = "/services/T000/B000/secret-webhook-token-XyZ"

// SlackOptions tune NewSlack.
type SlackOptions struct {
	// Dir, when set, receives each accepted post as slack-NN.json (NN
	// counting from 01), written before it is answered.
	Dir string
}

// Slack is an incoming-webhook receiver that refuses what Slack refuses,
// as Slack answers an incoming webhook: 400 with invalid_payload (not JSON),
// no_text (no top-level text) or invalid_blocks (a block breaks Block Kit's
// documented limits, see CheckSlack). A refused post is not kept.
type Slack struct {
	// URL is the webhook's.
	URL string

	dir string
	srv *http.Server

	mu      sync.Mutex
	posts   []notify.SlackMessage
	files   []string
	refused []string
	fail    []int
}

// NewSlack starts a receiver on a free port of 127.0.0.1; Close stops it.
func NewSlack(o SlackOptions) (*Slack, error) {
	s := &Slack{dir: o.Dir}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("slack simulator: listen: %w", err)
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	s.URL = "http://" + l.Addr().String() + WebhookPath
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// Close stops the receiver and closes its connections.
func (s *Slack) Close() error { return s.srv.Close() }

// Fail answers the next posts with these statuses, posting nothing.
func (s *Slack) Fail(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, statuses...)
}

// Posts returns what was posted, in order.
func (s *Slack) Posts() []notify.SlackMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notify.SlackMessage(nil), s.posts...)
}

// Files returns where each post was written, in the order of Posts (nil
// without SlackOptions.Dir).
func (s *Slack) Files() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.files...)
}

// Refused returns why each refused post was refused, in order.
func (s *Slack) Refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

func (s *Slack) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fail) > 0 {
		code := s.fail[0]
		s.fail = s.fail[1:]
		http.Error(w, "rollup_error", code)
		return
	}
	var m notify.SlackMessage
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
		json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m) != nil {
		s.refused = append(s.refused, "invalid_payload")
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if err := CheckSlack(m); err != nil {
		s.refused = append(s.refused, err.Error())
		code := "invalid_blocks"
		if m.Text == "" {
			code = "no_text"
		}
		http.Error(w, code, http.StatusBadRequest)
		return
	}
	if s.dir != "" {
		file := filepath.Join(s.dir, fmt.Sprintf("slack-%02d.json", len(s.posts)+1))
		b, _ := json.MarshalIndent(m, "", "  ")
		if err := os.WriteFile(file, append(b, '\n'), 0o600); err != nil {
			http.Error(w, "could not keep the post", http.StatusInternalServerError)
			return
		}
		s.files = append(s.files, file)
	}
	s.posts = append(s.posts, m)
	_, _ = io.WriteString(w, "ok")
}

// Slack's documented limits on a message (docs.slack.dev, Block Kit
// reference: blocks, section, header, context, text objects; api.slack.com
// changelog 2018-04 "Truncating really long messages").
const (
	SlackMaxBlocks      = 50    // blocks in one message
	SlackMaxText        = 40000 // the top-level text; Slack cuts it beyond, this receiver refuses so a test sees it
	SlackMaxSectionText = 3000  // a section's text, and any text object
	SlackMaxFields      = 10    // a section's fields
	SlackMaxFieldText   = 2000  // each field's text
	SlackMaxHeaderText  = 150   // a header's plain_text
	SlackMaxContext     = 10    // a context block's elements
)

// SlackLen is a text's length as these limits count it: in UTF-16 code
// units, which is never less than the characters Slack counts, so what
// passes here passes in Slack.
func SlackLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// CheckSlack says what in m Slack would refuse: no top-level text, too many
// blocks, an unknown block type, a text object that is empty, of an unknown
// type or over its block's limit, too many fields or context elements.
func CheckSlack(m notify.SlackMessage) error {
	var errs []error
	if m.Text == "" {
		errs = append(errs, errors.New("text: missing"))
	}
	if n := SlackLen(m.Text); n > SlackMaxText {
		errs = append(errs, fmt.Errorf("text: %d characters, over %d", n, SlackMaxText))
	}
	if len(m.Blocks) > SlackMaxBlocks {
		errs = append(errs, fmt.Errorf("blocks: %d, over %d", len(m.Blocks), SlackMaxBlocks))
	}
	for i, b := range m.Blocks {
		at := fmt.Sprintf("blocks[%d] (%s)", i, b.Type)
		switch b.Type {
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				errs = append(errs, errors.New(at+": neither text nor fields"))
			}
			if b.Text != nil {
				errs = append(errs, checkText(at+".text", *b.Text, SlackMaxSectionText, "plain_text", "mrkdwn"))
			}
			if len(b.Fields) > SlackMaxFields {
				errs = append(errs, fmt.Errorf("%s.fields: %d, over %d", at, len(b.Fields), SlackMaxFields))
			}
			for j, f := range b.Fields {
				errs = append(errs, checkText(fmt.Sprintf("%s.fields[%d]", at, j), f, SlackMaxFieldText, "plain_text", "mrkdwn"))
			}
			if len(b.Elements) > 0 {
				errs = append(errs, errors.New(at+": a section has no elements"))
			}
		case "header":
			if b.Text == nil {
				errs = append(errs, errors.New(at+": no text"))
			} else {
				errs = append(errs, checkText(at+".text", *b.Text, SlackMaxHeaderText, "plain_text"))
			}
			if len(b.Fields) > 0 || len(b.Elements) > 0 {
				errs = append(errs, errors.New(at+": a header holds its text only"))
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > SlackMaxContext {
				errs = append(errs, fmt.Errorf("%s.elements: %d, want 1 to %d", at, len(b.Elements), SlackMaxContext))
			}
			for j, e := range b.Elements {
				errs = append(errs, checkText(fmt.Sprintf("%s.elements[%d]", at, j), e, SlackMaxSectionText, "plain_text", "mrkdwn"))
			}
			if b.Text != nil || len(b.Fields) > 0 {
				errs = append(errs, errors.New(at+": a context holds elements only"))
			}
		case "divider":
			if b.Text != nil || len(b.Fields) > 0 || len(b.Elements) > 0 {
				errs = append(errs, errors.New(at+": a divider holds nothing"))
			}
		default:
			errs = append(errs, errors.New(at+": not a block type this receiver knows"))
		}
	}
	return errors.Join(errs...)
}

func checkText(at string, t notify.TextObject, limit int, types ...string) error {
	if !slices.Contains(types, t.Type) {
		return fmt.Errorf("%s: type %q, want one of %v", at, t.Type, types)
	}
	if n := SlackLen(t.Text); n == 0 || n > limit {
		return fmt.Errorf("%s: %d characters, want 1 to %d", at, n, limit)
	}
	return nil
}
