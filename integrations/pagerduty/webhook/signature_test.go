package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/PagerDuty/go-pagerduty/webhookv3"

	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

type vector struct {
	File   string // under the specs folder's webhooks/
	Secret string
	Header string
	Expect string // "" for a valid vector, else why it is invalid
}

// The published vectors: each body is a signed sample in the specs folder
// (see specs.lock), each secret and header as its source publishes them
// (public test values, not secrets of any account).
const (
	aldavivaSecret = testspecs.SampleSecret                                             // Aldaviva/PagerDuty Tests/Webhooks/WebhookResourceTests.cs @ 583eee55
	goPagerDutyKey = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK" // go-pagerduty v1.8.0 webhookv3_test.go
)

var vectors = []vector{
	{"pagey.ping.json", aldavivaSecret, "v1=0e83584cbab86f98c51517cf96a70c90e910532d3d2f067d58c753cc8980a05b", ""},
	{"incident.triggered.json", aldavivaSecret, "v1=3e3032b45bbe1801c13f182b0e0a7f4f3f530225cef07e3e90cbc57874d01c49", ""},
	{"incident.acknowledged.json", aldavivaSecret, "v1=91f533c0411d09f3e68622e2b57fdb561e7113ce7635318a2bbf5cde45d3d876", ""},
	{"incident.resolved.json", aldavivaSecret, "v1=60a745384fb05b03acfc592b157b05e105e498da2f72f53c437c9d7c8d9aa879", ""},
	{"incident.annotated.json", aldavivaSecret, "v1=7b1cc279d644e35511cfca431696498477e97d46f2403ed46d426435e0efef2b", ""},
	{"pagey.ping.json", aldavivaSecret, "v1=0e83584cbab86f98c51517cf96a70c90e910532d3d2f067d58c753cc8980a05c", "last hex digit changed (the source's InvalidSignature test)"},
	{"official/incident.priority_updated.go-pagerduty-v1.8.0-testvector.json", goPagerDutyKey, "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd", ""},
	{"official/incident.priority_updated.go-pagerduty-v1.8.0-testvector.json", goPagerDutyKey, "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5", "the source's mismatch case"},
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// TestSignatureVectors checks every published vector, valid and invalid.
func TestSignatureVectors(t *testing.T) {
	testspecs.Require(t, "the signed webhook samples")
	var valid, invalid int
	for _, v := range vectors {
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
	body := testspecs.Sample(t, "webhooks/pagey.ping.json")
	v := vector{Secret: testspecs.SampleSecret, Header: sign(testspecs.SampleSecret, body)}
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
	body := testspecs.Sample(t, "webhooks/incident.resolved.json")
	v := vector{Secret: testspecs.SampleSecret, Header: sign(testspecs.SampleSecret, body)}
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
	body := testspecs.Sample(t, "webhooks/pagey.ping.json")
	v := vector{Header: sign(testspecs.SampleSecret, body)}
	if err := NewVerifier([]string{"", ""}).Verify(v.Header, body); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("got %v, want ErrBadSignature", err)
	}
}

// agreesWithGoPagerDuty checks Verify against go-pagerduty's
// webhookv3.VerifySignature, the reference: a body is accepted exactly when
// that function accepts it with one of the secrets.
func agreesWithGoPagerDuty(t *testing.T, secrets []string, header string, body []byte) {
	t.Helper()
	err := NewVerifier(secrets).Verify(header, body)
	// Verify's own refusals before any signature is compared.
	h := strings.ReplaceAll(strings.TrimSpace(header), " ", "")
	switch {
	case h == "":
		if !errors.Is(err, ErrMissingSignature) {
			t.Fatalf("header %q: got %v, want ErrMissingSignature", header, err)
		}
		return
	case len(body) == 0:
		if !errors.Is(err, ErrEmptyBody) {
			t.Fatalf("empty body: got %v, want ErrEmptyBody", err)
		}
		return
	}
	want := false
	for _, s := range secrets {
		if s == "" {
			continue
		}
		r := &http.Request{Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body))}
		r.Header.Set(SignatureHeader, h)
		if webhookv3.VerifySignature(r, s) == nil {
			want = true
		}
	}
	if got := err == nil; got != want {
		t.Fatalf("secrets %d, header %q: Verify accepts %v (%v), go-pagerduty %v", len(secrets), header, got, err, want)
	}
	if err != nil && !errors.Is(err, ErrBadSignature) {
		t.Fatalf("header %q: got %v, want ErrBadSignature", header, err)
	}
}

// Verify answers as go-pagerduty's VerifySignature does, on bodies signed
// with one secret, with two (a rotation), with a secret not configured,
// with the signature in upper case, among other versions, in many values.
func TestVerifyAgreesWithGoPagerDuty(t *testing.T) {
	body := testspecs.Sample(t, "webhooks/incident.resolved.json")
	const a, b, c = "secret-a", "secret-b", "secret-not-configured"
	sa, sb, sc := sign(a, body), sign(b, body), sign(c, body)
	many := strings.Repeat("v1="+strings.Repeat("0", 64)+",", 40) + sb
	for _, secrets := range [][]string{{a}, {b}, {a, b}, {b, a}, {"", a}, {}} {
		for _, header := range []string{
			sa, sb, sc, sa + "," + sb, sc + "," + sb, sb + ", " + sc, " " + sa + " ", strings.ToUpper(sa[3:]), "v1=" + strings.ToUpper(sa[3:]),
			"v2=" + sa[3:], sa[:len(sa)-1], sa + "0", "v1=", ",", " , ", "v1=" + strings.Repeat("g", 64), sa[:3] + " " + sa[3:], many,
			"", "   ",
		} {
			agreesWithGoPagerDuty(t, secrets, header, body)
			agreesWithGoPagerDuty(t, secrets, header, append(append([]byte{}, body...), ' '))
			agreesWithGoPagerDuty(t, secrets, header, nil)
		}
	}
}

func FuzzVerifyAgreesWithGoPagerDuty(f *testing.F) {
	body := []byte(`{"event":{"id":"E"}}`)
	f.Add(sign("k1", body), body, true)
	f.Add(sign("k2", body)+","+sign("k1", body), body, false)
	f.Add("v1=zz,"+sign("k2", body), body, true)
	f.Fuzz(func(t *testing.T, header string, body []byte, both bool) {
		secrets := []string{"k1"}
		if both {
			secrets = append(secrets, "k2")
		}
		agreesWithGoPagerDuty(t, secrets, header, body)
	})
}

// A body signed with two secrets (PagerDuty during a rotation) verifies
// with either configured, through a pooled HMAC used many times over, from
// many goroutines: no state carries from one body to the next.
func TestVerifyReusesItsHMACsSafely(t *testing.T) {
	v := NewVerifier([]string{"old", "new"})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				body := []byte(fmt.Sprintf(`{"event":{"id":"E%d-%d"}}`, g, i))
				if err := v.Verify(sign("new", body)+","+sign("old", body), body); err != nil {
					t.Errorf("both signatures: %v", err)
					return
				}
				if err := v.Verify(sign("new", body), body); err != nil {
					t.Errorf("new only: %v", err)
					return
				}
				other := []byte(fmt.Sprintf(`{"event":{"id":"X%d-%d"}}`, g, i))
				if err := v.Verify(sign("new", other), body); !errors.Is(err, ErrBadSignature) {
					t.Errorf("another body's signature: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}
