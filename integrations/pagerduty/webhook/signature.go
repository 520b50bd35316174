package webhook

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/PagerDuty/go-pagerduty/webhookv3"
)

// SignatureHeader carries the body's HMAC signatures, one per signing secret.
const SignatureHeader = "X-PagerDuty-Signature"

// Verification failures. Neither message names a secret or a signature.
var (
	ErrMissingSignature = errors.New("missing " + SignatureHeader + " header")
	ErrBadSignature     = errors.New(SignatureHeader + " does not match any configured secret")
	ErrEmptyBody        = errors.New("empty body")
)

// Verifier checks V3 signatures against every configured secret: during a
// rotation PagerDuty signs with the old and the new secret, and aftermath may be
// configured with either or both, so any one match is enough.
type Verifier struct {
	secrets []string
}

// NewVerifier returns a Verifier for the given signing secrets.
func NewVerifier(secrets []string) *Verifier {
	s := make([]string, 0, len(secrets))
	for _, x := range secrets {
		if x != "" {
			s = append(s, x)
		}
	}
	return &Verifier{secrets: s}
}

// Verify checks header's signatures over body with go-pagerduty's
// webhookv3.VerifySignature, which compares in constant time.
func (v *Verifier) Verify(header string, body []byte) error {
	// PagerDuty sends "v1=a,v1=b"; proxies sometimes add spaces after commas.
	header = strings.ReplaceAll(strings.TrimSpace(header), " ", "")
	if header == "" {
		return ErrMissingSignature
	}
	if len(body) == 0 {
		return ErrEmptyBody
	}
	h := make(http.Header, 1)
	h.Set(SignatureHeader, header)
	for _, secret := range v.secrets {
		r := &http.Request{Header: h, Body: io.NopCloser(bytes.NewReader(body))}
		if webhookv3.VerifySignature(r, secret) == nil {
			return nil
		}
	}
	return ErrBadSignature
}
