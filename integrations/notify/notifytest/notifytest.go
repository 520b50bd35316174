// Package notifytest holds the notifier's test doubles: an SMTP server
// (github.com/emersion/go-smtp) on a real TCP port that requires STARTTLS
// with a certificate made for the test and AUTH PLAIN, and a Slack
// incoming-webhook receiver that enforces Block Kit's documented limits.
// Both record what they got and can be told to refuse.
package notifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/aftermath-dev/aftermath/integrations/notify"
)

// Test credentials of the SMTP server.
const (
	Username = "aftermath"
	Password = "smtp-secret-Zq81-never-logged"
	From     = "aftermath@example.com"
)

// Mail is a message the SMTP server accepted.
type Mail struct {
	From string
	To   []string
	Data string
}

// SMTP is a mail server in the test process.
type SMTP struct {
	Addr string
	// CA trusts the server's certificate.
	CA *x509.CertPool
	// CAPEM is that certificate in PEM, for a child process to trust
	// (SSL_CERT_FILE).
	CAPEM []byte

	mu      sync.Mutex
	mails   []Mail
	refuse  []*smtp.SMTPError // refusals of the next RCPTs, in order
	dropEnd int               // close the connection instead of answering the next final dots
	authOK  int
	tlsSeen bool
}

// NewSMTP starts a server on 127.0.0.1 that offers STARTTLS and AUTH PLAIN
// (only over TLS) and stops it at the end of the test.
func NewSMTP(t testing.TB) *SMTP {
	t.Helper()
	cert, pool := selfSigned(t)
	s := &SMTP{CA: pool, CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s, c: c}, nil }))
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Config is the notifier's configuration for this server (STARTTLS, auth).
func (s *SMTP) Config() notify.Config {
	return notify.Config{SMTPAddr: s.Addr, Username: Username, Password: Password, From: From, TLS: notify.TLSStartTLS,
		TLSConfig: &tls.Config{RootCAs: s.CA, ServerName: "localhost", MinVersion: tls.VersionTLS12}, Timeout: 20 * time.Second}
}

// Mails returns what was accepted.
func (s *SMTP) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// RefuseRcpt makes the next RCPT commands fail with these replies, e.g. 451
// (try later) or 550 (no such user).
func (s *SMTP) RefuseRcpt(codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range codes {
		s.refuse = append(s.refuse, &smtp.SMTPError{Code: c, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "refused by the test"})
	}
}

// DropAfterData makes the server keep the next n messages but close the
// connection instead of answering their final dot: the client cannot know
// they were delivered.
func (s *SMTP) DropAfterData(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropEnd = n
}

// Authenticated reports how many sessions signed in over TLS.
func (s *SMTP) Authenticated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authOK
}

type session struct {
	s    *SMTP
	c    *smtp.Conn
	auth bool
	m    Mail
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if _, isTLS := ss.c.TLSConnectionState(); !isTLS {
			return errors.New("auth only over TLS")
		}
		if user != Username || pass != Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		ss.auth = true
		ss.s.mu.Lock()
		ss.s.authOK++
		ss.s.mu.Unlock()
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if !ss.auth {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	ss.m = Mail{From: from}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if len(ss.s.refuse) > 0 {
		err := ss.s.refuse[0]
		ss.s.refuse = ss.s.refuse[1:]
		return err
	}
	ss.m.To = append(ss.m.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.m.Data = string(b)
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, ss.m)
	drop := ss.s.dropEnd > 0
	if drop {
		ss.s.dropEnd--
	}
	ss.s.mu.Unlock()
	if drop {
		_ = ss.c.Close()
	}
	return nil
}

func (ss *session) Reset()        { ss.m = Mail{} }
func (ss *session) Logout() error { return nil }

// selfSigned makes a certificate for localhost and 127.0.0.1, and a pool
// that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, pool
}

// Slack is an incoming-webhook receiver that refuses what Slack refuses,
// as Slack answers an incoming webhook: 400 with invalid_payload (not JSON),
// no_text (no top-level text) or invalid_blocks (a block breaks Block Kit's
// documented limits, see CheckSlack). A refused post is not kept.
type Slack struct {
	URL string

	mu      sync.Mutex
	posts   []notify.SlackMessage
	refused []string
	fail    []int
}

// NewSlack starts a receiver; its URL is the webhook's.
func NewSlack(t testing.TB) *Slack {
	s := &Slack{}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/services/T000/B000/secret-webhook-token-XyZ"
	return s
}

// Fail answers the next posts with these statuses, posting nothing.
func (s *Slack) Fail(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, statuses...)
}

// Posts returns what was posted.
func (s *Slack) Posts() []notify.SlackMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notify.SlackMessage(nil), s.posts...)
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
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&m) != nil {
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

// Part is one leaf of a mail's MIME tree, decoded.
type Part struct {
	ContentType string // the media type, e.g. text/calendar
	Params      map[string]string
	Filename    string // "" unless an attachment names one
	Body        []byte // after the transfer encoding is undone
}

// Parts reads the message as a mail client would: its headers, then each
// leaf of the multipart tree with its transfer encoding (base64,
// quoted-printable) undone.
func (m Mail) Parts() ([]Part, error) {
	msg, err := netmail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		return nil, fmt.Errorf("read the message: %w", err)
	}
	return parts(textproto.MIMEHeader(msg.Header), msg.Body)
}

func parts(h textproto.MIMEHeader, body io.Reader) ([]Part, error) {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	media, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, fmt.Errorf("content type %q: %w", ct, err)
	}
	if strings.HasPrefix(media, "multipart/") {
		var out []Part
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextRawPart()
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", media, err)
			}
			sub, err := parts(p.Header, p)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("%s body: %w", media, err)
	}
	p := Part{ContentType: media, Params: params, Body: b}
	if _, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil {
		p.Filename = dp["filename"]
	}
	return []Part{p}, nil
}
