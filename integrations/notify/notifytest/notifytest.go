// Package notifytest holds the notifier's test doubles: an SMTP server
// (github.com/emersion/go-smtp) on a real TCP port that requires STARTTLS
// with a certificate made for the test and AUTH PLAIN, and a Slack
// incoming-webhook receiver. Both record what they got and can be told to
// refuse.
package notifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

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

// Slack is an incoming-webhook receiver.
type Slack struct {
	URL string

	mu    sync.Mutex
	posts []notify.SlackMessage
	fail  []int
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
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&m) != nil || m.Text == "" {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.posts = append(s.posts, m)
	_, _ = io.WriteString(w, "ok")
}
