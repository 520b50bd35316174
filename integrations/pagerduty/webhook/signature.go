package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"hash"
	"strings"
	"sync"
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
//
// It computes what go-pagerduty's webhookv3.VerifySignature computes (the
// tests hold the two to the same answers), without that function's costs
// on every webhook: a copy of the body and a parse of the header per
// secret, and a new HMAC state per call. Each secret's body HMAC is
// computed once, from a pooled HMAC already keyed with it, and compared
// in constant time with every v1 signature of the header.
type Verifier struct {
	macs []*sync.Pool // one per secret, of hash.Hash keyed with it
}

// NewVerifier returns a Verifier for the given signing secrets.
func NewVerifier(secrets []string) *Verifier {
	v := &Verifier{}
	for _, x := range secrets {
		if x == "" {
			continue
		}
		key := []byte(x)
		v.macs = append(v.macs, &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }})
	}
	return v
}

// Verify checks header's v1 signatures over body.
func (v *Verifier) Verify(header string, body []byte) error {
	// PagerDuty sends "v1=a,v1=b"; proxies sometimes add spaces after commas.
	header = strings.ReplaceAll(strings.TrimSpace(header), " ", "")
	if header == "" {
		return ErrMissingSignature
	}
	if len(body) == 0 {
		return ErrEmptyBody
	}
	// Other versions, and values that are not a SHA-256 in hex, can match
	// nothing: they are skipped, as go-pagerduty skips them.
	sigs := make([][sha256.Size]byte, 0, 4)
	for part := range strings.SplitSeq(header, ",") {
		hexSig, ok := strings.CutPrefix(part, "v1=")
		if !ok || len(hexSig) != 2*sha256.Size {
			continue
		}
		if sig, ok := decodeHex(hexSig); ok {
			sigs = append(sigs, sig)
		}
	}
	if len(sigs) == 0 {
		return ErrBadSignature
	}
	for _, pool := range v.macs {
		mac := pool.Get().(hash.Hash)
		mac.Reset()
		mac.Write(body)
		var sum [sha256.Size]byte
		mac.Sum(sum[:0])
		pool.Put(mac)
		for i := range sigs {
			if hmac.Equal(sum[:], sigs[i][:]) {
				return nil
			}
		}
	}
	return ErrBadSignature
}

// decodeHex decodes a SHA-256 written in hex, either case, without
// allocating.
func decodeHex(s string) (sum [sha256.Size]byte, ok bool) {
	for i := range sum {
		hi, ok1 := nibble(s[2*i])
		lo, ok2 := nibble(s[2*i+1])
		if !ok1 || !ok2 {
			return sum, false
		}
		sum[i] = hi<<4 | lo
	}
	return sum, true
}

func nibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
