package simkit

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Replies writes a Reply as the simulated API would: its headers, the
// API's content type for a JSON or text body, and nothing for a nil one.
func TestRepliesWrite(t *testing.T) {
	withText := Replies{JSONType: "application/json;charset=UTF-8", TextType: "text/plain;charset=UTF-8"}
	jsonOnly := Replies{JSONType: "application/json; charset=utf-8"}
	hdr := http.Header{"Retry-After": {"3"}}
	cases := []struct {
		name     string
		rs       Replies
		rep      Reply
		wantType string
		wantBody string
	}{
		{"json", withText, Reply{Status: 201, Body: map[string]int{"a": 1}, Header: hdr}, withText.JSONType, "{\"a\":1}\n"},
		{"text", withText, Reply{Status: 401, Body: "go away", Header: hdr}, withText.TextType, "go away"},
		{"no body", withText, Reply{Status: 204, Header: hdr}, "", ""},
		{"string as json without a text type", jsonOnly, Reply{Status: 200, Body: "x", Header: hdr}, jsonOnly.JSONType, "\"x\"\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			if got := tc.rs.Write(w, tc.rep); got != tc.rep.Status || w.Code != tc.rep.Status {
				t.Errorf("status: returned %d, sent %d, want %d", got, w.Code, tc.rep.Status)
			}
			if got := w.Header().Get("Content-Type"); got != tc.wantType {
				t.Errorf("Content-Type %q, want %q", got, tc.wantType)
			}
			if got := w.Header().Get("Retry-After"); got != "3" {
				t.Errorf("Retry-After %q, want the reply's header", got)
			}
			if got := w.Body.String(); got != tc.wantBody {
				t.Errorf("body %q, want %q", got, tc.wantBody)
			}
		})
	}
}
