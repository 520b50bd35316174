package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

type vector struct {
	File   string `json:"file"`
	Secret string `json:"secret"`
	Header string `json:"header"`
	Expect string `json:"expect"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	var doc struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(testspecs.Read(t, "webhooks/signature-test-vectors.json"), &doc); err != nil {
		t.Fatalf("decode signature-test-vectors.json: %v", err)
	}
	if len(doc.Vectors) < 8 {
		t.Fatalf("expected at least 8 vectors, found %d", len(doc.Vectors))
	}
	return doc.Vectors
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// TestSignatureVectors checks every published vector, valid and invalid.
func TestSignatureVectors(t *testing.T) {
	var valid, invalid int
	for _, v := range loadVectors(t) {
		wantValid := v.Expect == ""
		t.Run(v.File+"/"+v.Header[len(v.Header)-6:], func(t *testing.T) {
			body := testspecs.Read(t, "webhooks/"+v.File)
			err := NewVerifier([]string{v.Secret}).Verify(v.Header, body)
			if wantValid && err != nil {
				t.Fatalf("valid vector refused: %v", err)
			}
			if !wantValid && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("invalid vector (%s): got %v, want ErrBadSignature", v.Expect, err)
			}
		})
		if wantValid {
			valid++
		} else {
			invalid++
		}
	}
	if valid == 0 || invalid == 0 {
		t.Fatalf("vectors should include valid and invalid cases: %d valid, %d invalid", valid, invalid)
	}
}

func TestSignatureRotation(t *testing.T) {
	vs := loadVectors(t)
	v := vs[0]
	body := testspecs.Read(t, "webhooks/"+v.File)
	const newSecret = "a-new-secret-after-rotation"

	cases := []struct {
		name    string
		secrets []string
		header  string
		wantErr error
	}{
		{"old secret configured second", []string{newSecret, v.Secret}, v.Header, nil},
		{"old secret configured first", []string{v.Secret, newSecret}, v.Header, nil},
		{"PagerDuty signs with both, we know only the new", []string{newSecret}, sign(newSecret, body) + "," + v.Header, nil},
		{"PagerDuty signs with both, we know only the old", []string{v.Secret}, sign(newSecret, body) + "," + v.Header, nil},
		{"space after the comma", []string{newSecret}, v.Header + ", " + sign(newSecret, body), nil},
		{"retired secret only", []string{newSecret}, v.Header, ErrBadSignature},
		{"unknown version prefix ignored", []string{v.Secret}, "v2=" + strings.TrimPrefix(v.Header, "v1="), ErrBadSignature},
		{"not hex", []string{v.Secret}, "v1=zzzz", ErrBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := NewVerifier(tc.secrets).Verify(tc.header, body)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestSignatureMissingHeaderAndTamperedBody(t *testing.T) {
	v := loadVectors(t)[3] // incident.resolved.json
	body := testspecs.Read(t, "webhooks/"+v.File)
	ver := NewVerifier([]string{v.Secret})

	if err := ver.Verify("", body); !errors.Is(err, ErrMissingSignature) {
		t.Errorf("missing header: got %v, want ErrMissingSignature", err)
	}
	if err := ver.Verify("   ", body); !errors.Is(err, ErrMissingSignature) {
		t.Errorf("blank header: got %v, want ErrMissingSignature", err)
	}
	if err := ver.Verify(v.Header, nil); !errors.Is(err, ErrEmptyBody) {
		t.Errorf("empty body: got %v, want ErrEmptyBody", err)
	}

	tampered := []func([]byte) []byte{
		func(b []byte) []byte { return []byte(strings.Replace(string(b), `"resolved"`, `"triggered"`, 1)) },
		func(b []byte) []byte { return append(b, '\n') },
		func(b []byte) []byte { return b[:len(b)-1] },
		func(b []byte) []byte { c := append([]byte{}, b...); c[10] ^= 1; return c },
	}
	for i, f := range tampered {
		if err := ver.Verify(v.Header, f(append([]byte{}, body...))); !errors.Is(err, ErrBadSignature) {
			t.Errorf("tampered body %d: got %v, want ErrBadSignature", i, err)
		}
	}
	if err := ver.Verify(v.Header, body); err != nil {
		t.Fatalf("the untampered body must still verify: %v", err)
	}
}

func TestVerifierWithoutSecretsRefusesEverything(t *testing.T) {
	v := loadVectors(t)[0]
	body := testspecs.Read(t, "webhooks/"+v.File)
	if err := NewVerifier([]string{"", ""}).Verify(v.Header, body); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("got %v, want ErrBadSignature", err)
	}
}
