// Package notify tells people about post-mortems: email over SMTP
// (github.com/wneessen/go-mail) and Slack incoming webhooks (JSON with Block
// Kit over net/http). It renders the messages (messages.go) and the
// meeting's calendar hold (ics.go) too. Nothing it logs or returns holds the
// SMTP password or a webhook URL.
package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
)

// TLS modes of the SMTP connection.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, which is required
	TLSImplicit = "tls"      // TLS from the first byte (SMTPS, port 465)
	TLSNone     = "none"     // no TLS: a local relay only
)

// Config is what the client needs. SMTPAddr "" sends no email.
type Config struct {
	SMTPAddr string // host:port
	Username string // "" signs in with no AUTH
	Password string
	From     string
	TLS      string // TLSStartTLS (""), TLSImplicit or TLSNone
	// TLSConfig overrides the TLS settings (tests trust their own CA).
	TLSConfig *tls.Config
	// Timeout bounds one SMTP conversation or Slack request (30s).
	Timeout time.Duration
	// Getenv reads the Slack webhook URLs at send time (os.LookupEnv).
	Getenv func(string) (string, bool)
}

// String never shows the password.
func (c Config) String() string {
	return fmt.Sprintf("notify.Config{SMTPAddr:%s Username:%s From:%s TLS:%s}", c.SMTPAddr, c.Username, c.From, c.TLS)
}

// GoString never shows the password.
func (c Config) GoString() string { return c.String() }

// Client sends email and Slack messages. It is safe for concurrent use.
type Client struct {
	cfg  Config
	log  *slog.Logger
	http *http.Client
}

// New returns a client; httpClient nil uses a plain one with cfg.Timeout.
func New(cfg Config, log *slog.Logger, httpClient *http.Client) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: cfg.Timeout}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, log: log, http: httpClient}
}

// MailEnabled reports whether an SMTP relay is configured.
func (c *Client) MailEnabled() bool { return c != nil && c.cfg.SMTPAddr != "" }

// Email sends e in one SMTP conversation.
func (c *Client) Email(ctx context.Context, e Email) error {
	if !c.MailEnabled() {
		return &Error{Channel: "email", Op: "send", NotSent: true, Err: errors.New("no SMTP relay is configured (SMTP_ADDR)")}
	}
	m, err := c.message(e)
	if err != nil {
		return &Error{Channel: "email", Op: "compose", NotSent: true, Err: err}
	}
	mc, err := c.smtpClient()
	if err != nil {
		return &Error{Channel: "email", Op: "configure", NotSent: true, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if err := mc.DialAndSendWithContext(ctx, m); err != nil {
		return smtpError(err)
	}
	c.log.Info("email sent", "to", len(e.To), "subject", e.Subject)
	return nil
}

func (c *Client) message(e Email) (*mail.Msg, error) {
	m := mail.NewMsg()
	if err := m.From(c.cfg.From); err != nil {
		return nil, fmt.Errorf("from %q: %w", c.cfg.From, err)
	}
	if err := m.To(e.To...); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	m.Subject(e.Subject)
	m.SetDate()
	m.SetMessageID()
	m.SetBodyString(mail.TypeTextPlain, e.Text)
	if e.HTML != "" {
		m.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	}
	for _, a := range e.Attachments {
		if err := m.AttachReader(a.Name, bytes.NewReader(a.Data), mail.WithFileContentType(mail.ContentType(a.ContentType))); err != nil {
			return nil, fmt.Errorf("attach %s: %w", a.Name, err)
		}
	}
	return m, nil
}

func (c *Client) smtpClient() (*mail.Client, error) {
	host, p, err := net.SplitHostPort(c.cfg.SMTPAddr)
	if err != nil {
		return nil, fmt.Errorf("SMTP_ADDR is not host:port")
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, fmt.Errorf("SMTP_ADDR's port is not a number")
	}
	opts := []mail.Option{mail.WithPort(port), mail.WithTimeout(c.cfg.Timeout), mail.WithoutNoop()}
	tc := c.cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	switch c.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, mail.WithSSL(), mail.WithTLSConfig(tc))
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory), mail.WithTLSConfig(tc))
	}
	if c.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(c.cfg.Username), mail.WithPassword(c.cfg.Password))
	}
	return mail.NewClient(host, opts...)
}

// smtpError classifies a failed conversation. Until the server accepts the
// message's final dot, nothing is delivered: a refusal of MAIL, RCPT or
// DATA, of the content itself, or a connection or sign-in that failed,
// proves nothing was sent. Only a conversation lost while waiting for the
// answer to the final dot leaves it unknown.
func smtpError(err error) error {
	e := &Error{Channel: "email", Op: "send", Err: err, Transient: true, NotSent: true}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		e.Code = tp.Code
	}
	var se *mail.SendError
	if errors.As(err, &se) {
		if code := se.ErrorCode(); code != 0 {
			e.Code = code
		}
		e.Transient = se.IsTemp() || e.Code == 0 || e.Code/100 == 4
		if se.Reason == mail.ErrSMTPDataClose && e.Code == 0 {
			e.NotSent = false // the answer to the final dot was lost
		}
	} else if e.Code/100 == 5 {
		e.Transient = false // refused as such, e.g. 535 bad credentials
	}
	if e.Code/100 == 4 {
		e.Transient = true
	}
	return e
}

// Slack posts m to the incoming webhook whose URL is in the environment
// variable env, read now (a rotated URL needs no restart).
func (c *Client) Slack(ctx context.Context, env string, m SlackMessage) error {
	u, ok := c.getenv(env)
	if !ok || strings.TrimSpace(u) == "" {
		return &Error{Channel: "slack", Op: "post to " + env, NotSent: true,
			Err: fmt.Errorf("environment variable %s is not set", env)}
	}
	body, err := json.Marshal(m)
	if err != nil {
		return &Error{Channel: "slack", Op: "post to " + env, NotSent: true, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSpace(u), bytes.NewReader(body))
	if err != nil {
		// url.Parse's error quotes the URL: never show it.
		return &Error{Channel: "slack", Op: "post to " + env, NotSent: true, Err: fmt.Errorf("%s does not hold a valid URL", env)}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return slackTransportError(env, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return slackStatusError(env, resp.StatusCode, strings.TrimSpace(string(answer)))
}

func (c *Client) getenv(name string) (string, bool) {
	if c.cfg.Getenv == nil {
		return "", false
	}
	return c.cfg.Getenv(name)
}

// slackTransportError drops the URL (a secret) from a failed request: a
// connection never made sent nothing; one lost after the request was
// written may have posted.
func slackTransportError(env string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var op *net.OpError
	notSent := errors.As(err, &op) && op.Op == "dial"
	return &Error{Channel: "slack", Op: "post to " + env, Transient: true, NotSent: notSent, Err: err}
}

// slackStatusError reads Slack's answer. 2xx: posted. 429 (rate limited),
// 500 and 503 are answers Slack gives without posting: retried, and safe
// to send again. Other 4xx (invalid_payload, channel_not_found, no_service)
// are refused as such. Other 5xx (a gateway's 502 or 504) may have posted.
func slackStatusError(env string, status int, answer string) error {
	if status/100 == 2 {
		return nil
	}
	if len(answer) > 100 {
		answer = answer[:100]
	}
	e := &Error{Channel: "slack", Op: "post to " + env, Code: status, Err: fmt.Errorf("slack answered %q", answer)}
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusInternalServerError || status == http.StatusServiceUnavailable:
		e.Transient, e.NotSent = true, true
	case status/100 == 4:
		e.NotSent = true
	default:
		e.Transient = true
	}
	return e
}
