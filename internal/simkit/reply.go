package simkit

import (
	"encoding/json"
	"io"
	"net/http"
)

// Reply is the answer of a simulated JSON API (pagerdutysim, jirasim) to
// one request: its status, its body and the headers it adds. A simulator
// whose answers are Reply values serves them through a Server[F, Reply]
// and writes them with Replies, instead of a reply type and a writer of its
// own.
type Reply struct {
	Status int
	// Body is sent as JSON; a string as text (Replies.TextType), nil as
	// no body at all.
	Body   any
	Header http.Header
}

// Replies writes Reply values with the content types of one API: the Write
// of its API, so that a simulator's adapter embeds it.
type Replies struct {
	// JSONType is the Content-Type of a JSON body, as the API spells it:
	// "application/json; charset=utf-8".
	JSONType string
	// TextType is the Content-Type of a string body; "" sends a string as
	// JSON too.
	TextType string
}

// Write sends rep's headers, then its status and body; it returns the
// status sent.
func (rs Replies) Write(w http.ResponseWriter, rep Reply) int {
	for k, v := range rep.Header {
		w.Header()[k] = v
	}
	if s, ok := rep.Body.(string); ok && rs.TextType != "" {
		w.Header().Set("Content-Type", rs.TextType)
		w.WriteHeader(rep.Status)
		_, _ = io.WriteString(w, s)
		return rep.Status
	}
	if rep.Body == nil {
		w.WriteHeader(rep.Status)
		return rep.Status
	}
	w.Header().Set("Content-Type", rs.JSONType)
	w.WriteHeader(rep.Status)
	_ = json.NewEncoder(w).Encode(rep.Body)
	return rep.Status
}
