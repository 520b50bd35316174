package notify

import (
	"fmt"
	"time"
)

// Email is one message to send.
type Email struct {
	To          []string
	Subject     string
	Text        string // text/plain
	HTML        string // text/html alternative; "" sends the text only
	Attachments []Attachment
}

// Attachment is a file sent with an email, e.g. the meeting's .ics.
type Attachment struct {
	Name        string
	ContentType string // e.g. text/calendar; method=REQUEST; charset=utf-8
	Data        []byte
}

// SlackMessage is the JSON body of a Slack incoming webhook: the text is
// the notification's fallback, the blocks what the channel shows.
type SlackMessage struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks,omitempty"`
}

// Block is a Block Kit layout block (header, section, context or divider).
type Block struct {
	Type     string       `json:"type"`
	Text     *TextObject  `json:"text,omitempty"`
	Fields   []TextObject `json:"fields,omitempty"`
	Elements []TextObject `json:"elements,omitempty"`
}

// TextObject is a Block Kit text object: plain_text or mrkdwn.
type TextObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Error is a failed send. It says whether a retry can help (Retryable) and
// whether the answer proves nothing was sent (Unapplied), like the Jira and
// PagerDuty clients' errors. Its message never holds a password or a
// webhook URL.
type Error struct {
	Channel   string // email or slack
	Op        string // what was being done
	Code      int    // the SMTP reply or HTTP status; 0 without an answer
	Transient bool
	// NotSent is set when the server's answer (or the lack of any
	// connection) proves the message was not delivered.
	NotSent bool
	Err     error
}

func (e *Error) Error() string {
	s := e.Channel + ": " + e.Op
	if e.Code != 0 {
		s += fmt.Sprintf(" (%d)", e.Code)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the same send may succeed later.
func (e *Error) Retryable() bool { return e.Transient }

// Unapplied reports whether the message is known not to have been sent, so
// that sending it again cannot make a duplicate.
func (e *Error) Unapplied() bool { return e.NotSent }

// Invitee is one person asked to the post-mortem meeting.
type Invitee struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	// Why they are invited, e.g. "incident commander", "owner of PSVC001".
	Why string `json:"why"`
}

// Label is how the invitee is written: "Name <email>", or whichever is
// known.
func (i Invitee) Label() string {
	switch {
	case i.Name != "" && i.Email != "":
		return i.Name + " <" + i.Email + ">"
	case i.Email != "":
		return i.Email
	}
	return i.Name
}

// Facts are what the messages say of a post-mortem.
type Facts struct {
	Incident    string    `json:"incident"`
	Number      int       `json:"number"`
	Title       string    `json:"title"`
	IncidentURL string    `json:"incident_url"`
	Severity    string    `json:"severity"`
	Services    []string  `json:"services,omitempty"`
	Key         string    `json:"key"`
	EpicURL     string    `json:"epic_url"`
	Owner       string    `json:"owner,omitempty"` // email; "" while nobody owns it
	TriggeredAt time.Time `json:"triggered_at,omitzero"`
	ResolvedAt  time.Time `json:"resolved_at,omitzero"`
	ReviewDue   time.Time `json:"review_due,omitzero"`
	MeetingDue  time.Time `json:"meeting_due,omitzero"`
	// TZ is the rules' time zone, in which times are written.
	TZ       string    `json:"tz"`
	Invitees []Invitee `json:"invitees,omitempty"`
}
