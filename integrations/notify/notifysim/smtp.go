// Package notifysim holds the notifier's stateful simulators: an SMTP server
// (github.com/emersion/go-smtp) on a real TCP port and a Slack
// incoming-webhook receiver that enforces Block Kit's documented limits.
// Both record what they got, can be told to refuse, and can write each
// message they accept to a folder.
//
// It is built into the production binary, which runs both for aftermath
// demo, so it depends neither on the testing package nor on
// net/http/httptest. Tests use notifytest, whose NewSMTP and NewSlack wrap
// these and stop them at the end of the test.
package notifysim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/aftermath-dev/aftermath/integrations/notify"
)

// Credentials of the SMTP server that requires them (SMTPOptions.Plain
// false), and the sender its Config names.
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
	// File is where the message was written ("" without SMTPOptions.Dir).
	File string
}

// SMTPOptions tune NewSMTP.
type SMTPOptions struct {
	// Plain serves as a local relay does: no TLS and no sign-in
	// (SMTP_TLS=none, no SMTP_USERNAME). Otherwise the server offers
	// STARTTLS with a certificate made at start and requires AUTH PLAIN
	// (Username, Password), only over TLS, before MAIL.
	Plain bool
	// Dir, when set, receives each accepted message as mail-NN.eml (NN
	// counting from 01), written before the final dot is answered.
	Dir string
}

// SMTP is a mail server on 127.0.0.1.
type SMTP struct {
	Addr string
	// CA trusts the server's certificate (nil when Plain).
	CA *x509.CertPool
	// CAPEM is that certificate in PEM, for a child process to trust
	// (SSL_CERT_FILE).
	CAPEM []byte

	plain bool
	dir   string
	srv   *smtp.Server

	mu      sync.Mutex
	mails   []Mail
	refuse  []*smtp.SMTPError // refusals of the next RCPTs, in order
	dropEnd int               // close the connection instead of answering the next final dots
	authOK  int
}

// NewSMTP starts a server on a free port of 127.0.0.1; Close stops it.
func NewSMTP(o SMTPOptions) (*SMTP, error) {
	s := &SMTP{plain: o.Plain, dir: o.Dir}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s, c: c}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	if !o.Plain {
		cert, pool, err := selfSigned()
		if err != nil {
			return nil, fmt.Errorf("smtp simulator: make its certificate: %w", err)
		}
		s.CA, s.CAPEM = pool, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtp simulator: listen: %w", err)
	}
	s.Addr, s.srv = l.Addr().String(), srv
	go func() { _ = srv.Serve(l) }()
	return s, nil
}

// Close stops the server and closes its connections.
func (s *SMTP) Close() error { return s.srv.Close() }

// Config is the notifier's configuration for this server: STARTTLS
// trusting its certificate and signing in, or, when Plain, neither.
func (s *SMTP) Config() notify.Config {
	if s.plain {
		return notify.Config{SMTPAddr: s.Addr, From: From, TLS: notify.TLSNone, Timeout: 20 * time.Second}
	}
	return notify.Config{SMTPAddr: s.Addr, Username: Username, Password: Password, From: From, TLS: notify.TLSStartTLS,
		TLSConfig: &tls.Config{RootCAs: s.CA, ServerName: "localhost", MinVersion: tls.VersionTLS12}, Timeout: 20 * time.Second}
}

// Mails returns what was accepted, in order.
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

func (ss *session) AuthMechanisms() []string {
	if ss.s.plain {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(string) (sasl.Server, error) {
	if ss.s.plain {
		return nil, smtp.ErrAuthUnsupported
	}
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
	if !ss.auth && !ss.s.plain {
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
	if ss.s.dir != "" {
		ss.m.File = filepath.Join(ss.s.dir, fmt.Sprintf("mail-%02d.eml", len(ss.s.mails)+1))
		if err := os.WriteFile(ss.m.File, b, 0o600); err != nil {
			ss.s.mu.Unlock()
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "could not keep the message"}
		}
	}
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

// selfSigned makes a certificate for localhost and 127.0.0.1, valid for a
// day, and a pool that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
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
		return tls.Certificate{}, nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, pool, nil
}
