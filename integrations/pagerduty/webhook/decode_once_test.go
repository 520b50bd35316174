package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/aftermath-dev/aftermath/internal/testspecs"
)

// Bodies with every field decodeOnce reads, one per modelled data type: the
// bases edgeBodies varies.
const (
	fullIncidentBody = `{"event":{"id":"E1","event_type":"incident.resolved","resource_type":"incident",` +
		`"occurred_at":"2025-04-07T03:49:36.358Z","agent":{"id":"U1","type":"user_reference","summary":"Ben","self":"https://a/u","html_url":"https://b/u"},` +
		`"client":{"name":"PagerDuty"},"data":{"id":"Q1","type":"incident","self":"https://a/i","html_url":"https://b/i","number":37,` +
		`"status":"resolved","incident_key":"k1","created_at":"2025-04-07T03:47:13Z","reopened_at":"2025-04-07T05:48:13+02:00",` +
		`"title":"Disk full","service":{"id":"S1","type":"service_reference"},"assignees":[{"id":"U1"},{"id":"U2","summary":"Dad"}],` +
		`"escalation_policy":{"id":"P1"},"teams":[{"id":"T1"}],"priority":{"id":"PR1","summary":"P1"},"urgency":"high",` +
		`"conference_bridge":{"conference_number":"+1 555,,1#","conference_url":"https://c"},` +
		`"resolve_reason":{"type":"merge_resolve_reason","incident":{"id":"Q0"}},"incident_type":{"name":"incident_default"},` +
		`"content":"c","trimmed":false,"message":"m"}}}`
	fullNoteBody = `{"event":{"id":"E2","event_type":"incident.annotated","resource_type":"incident","occurred_at":"2025-04-07T03:49:36Z",` +
		`"agent":null,"client":null,"data":{"id":"N1","type":"incident_note","incident":{"id":"Q1","type":"incident_reference"},` +
		`"content":"Resolution Note: done","trimmed":true}}}`
	fullPingBody = `{"event":{"id":"E3","event_type":"pagey.ping","resource_type":"pagey","occurred_at":"2025-04-07T03:00:55.532Z",` +
		`"agent":{"id":"U1","type":"user_reference"},"client":null,"data":{"message":"Hello","type":"ping"}}}`
)

// edgeValues replace a member's value in edgeBodies: null, values of every
// JSON kind, and the numbers and strings at the scanner's edges.
var edgeValues = []string{`null`, `7`, `-0`, `1.0`, `1e3`, `-12`, `99999999999999999999`, `123456789012345678`, `true`, `false`,
	`"x"`, `""`, `{}`, `[]`, `[null]`, `[{}]`, `{"id":"Z"}`, `"a\"b\\c\/d\be\ff\ng\rh\ti"`, `"\u00e9"`, "\"\xff\"", "\"\\n\xff\"", "\"\x01\"",
	`"é ſ K"`, `"2025-04-07T03:47:13Z"`, `"2025-04-07T03:47:13\/"`, `"2025-04-07T03:47:13.5-07:00"`, `"1000"`, `"a\u0000"`}

// edgeBodies varies the bases at every key decodeOnce knows (see
// memberVariants), and puts whitespace between all their tokens.
func edgeBodies(t testing.TB) []string {
	var out []string
	for _, base := range []string{fullIncidentBody, fullNoteBody, fullPingBody} {
		out = append(out, spaced(base, " \t\n\r"), spaced(base, "\n"))
		members, err := keyMembers(base)
		if err != nil {
			t.Fatalf("test bug: %v", err)
		}
		for _, m := range members {
			out = append(out, memberVariants(base, m)...)
		}
	}
	return out
}

// memberVariants returns body with its member m (see keyMembers) varied:
// its value replaced by each of edgeValues; its key doubled, upper-cased,
// spelled with the Kelvin sign or the long s (which encoding/json folds to k
// and s), escaped or unknown; spaces around it; deep nesting before it.
func memberVariants(body string, m [3]int) []string {
	head, key, value, tail := body[:m[0]], body[m[0]:m[1]], body[m[1]:m[2]], body[m[2]:]
	var out []string
	for _, v := range edgeValues {
		out = append(out, head+key+v+tail)
	}
	return append(out,
		head+key+value+","+key+value+tail,                                                // the key twice
		head+key+`null,`+key+value+tail,                                                  // twice, first null
		head+key+value+","+key+`{}`+tail,                                                 // twice, then {} (encoding/json merges objects)
		head+strings.ToUpper(key)+value+tail,                                             // case-folded
		head+strings.Replace(key, "k", "\u212a", 1)+value+tail,                           // Kelvin sign
		head+strings.Replace(key, "s", "\u017f", 1)+value+tail,                           // long s
		head+`"x`+key[1:]+value+tail,                                                     // unknown key
		head+key[:len(key)-2]+`\u0020":`+value+tail,                                      // escaped unknown key
		head+key+" "+value+" "+tail,                                                      // spaces
		head+`"x":`+strings.Repeat("[", 600)+strings.Repeat("]", 600)+","+key+value+tail, // deep
	)
}

// keyMembers returns, for every member of the body's objects, the offsets of
// its key, its value and its end: [key start, value start, value end]. It
// finds members by a look at the bytes, good enough for the bases and their
// variants; it fails when what it takes for a value is not valid JSON.
func keyMembers(body string) ([][3]int, error) {
	var out [][3]int
	for i := 0; i < len(body); i++ {
		if body[i] != '"' || i == 0 || (body[i-1] != '{' && body[i-1] != ',') {
			continue
		}
		colon := strings.Index(body[i:], `":`)
		if colon < 0 {
			break
		}
		colon += i + 2
		dec := json.NewDecoder(strings.NewReader(body[colon:]))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("no value at %d of %s: %w", colon, body, err)
		}
		out = append(out, [3]int{i, colon, colon + int(dec.InputOffset())})
	}
	return out, nil
}

// spaced puts ws around all the punctuation of body outside its strings.
func spaced(body, ws string) string {
	var b strings.Builder
	in := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case in && c == '\\':
			b.WriteByte(c)
			i++
			c = body[i]
		case c == '"':
			in = !in
		case !in && strings.IndexByte("{}[]:,", c) >= 0:
			b.WriteString(ws)
			b.WriteByte(c)
			c = ws[0]
		}
		b.WriteByte(c)
	}
	return ws + b.String() + ws
}

// agreeOnce checks Decode against the two-step reference on body, and says
// whether the one-pass path took the body.
func agreeOnce(t *testing.T, body []byte) bool {
	t.Helper()
	trimmed := bytes.TrimSpace(body)
	got, gotErr := Decode(body)
	want, wantErr := decodeInTwo(trimmed)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%s\nDecode: %v\ntwo-step reference: %v", body, gotErr, wantErr)
	}
	if wantErr == nil {
		got.Event.Data.Raw, want.Event.Data.Raw = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s\nDecode:\n%+v\ntwo-step reference:\n%+v", body, got.Event, want.Event)
		}
	}
	return decodeOnce(trimmed) != nil
}

// The edge bodies decode alike on both paths, and the one-pass path takes
// many of them: it is not agreeing by refusing everything.
func TestDecodeOnceEdges(t *testing.T) {
	bodies := edgeBodies(t)
	taken := 0
	for _, body := range bodies {
		if agreeOnce(t, []byte(body)) {
			taken++
		}
	}
	t.Logf("%d of %d edge bodies decoded in one pass", taken, len(bodies))
	// Most variants put a value of the wrong type, which is left to
	// decodeInTwo to word; about a quarter of them are taken.
	if taken < len(bodies)/5 {
		t.Fatalf("only %d of %d edge bodies took the one-pass path", taken, len(bodies))
	}
}

// Edge variants stacked, one to three at random members of a base (the
// same bodies every run), decode alike on both paths.
func TestDecodeOnceStackedEdges(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 1))
	bases := []string{fullIncidentBody, fullNoteBody, fullPingBody}
	const n = 4000
	taken := 0
	for range n {
		body := bases[rng.IntN(len(bases))]
		for range 1 + rng.IntN(3) {
			members, err := keyMembers(body)
			if err != nil || len(members) == 0 {
				break
			}
			variants := memberVariants(body, members[rng.IntN(len(members))])
			body = variants[rng.IntN(len(variants))]
		}
		if agreeOnce(t, []byte(body)) {
			taken++
		}
	}
	t.Logf("%d of %d stacked bodies decoded in one pass", taken, n)
	if taken < n/20 {
		t.Fatalf("only %d of %d stacked bodies took the one-pass path", taken, n)
	}
}

// What the one-pass path decodes itself: nulls, simple escapes, whitespace,
// -0, values it only checks (a \u escape, bytes that are not UTF-8, deep
// nesting), and what it leaves to decodeInTwo.
func TestDecodeOncePathChoice(t *testing.T) {
	base := fullIncidentBody
	set := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("test bug: %q not in the base body", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	once := map[string]string{
		"base":                           base,
		"whitespace everywhere":          spaced(base, " \t\r\n"),
		"simple escapes":                 set(`"Disk full"`, `"a\"b\\c\/d\be\ff\ng\rh\ti"`),
		"utf-8":                          set(`"Disk full"`, `"é ſ K 日本"`),
		"nulls":                          set(`"number":37`, `"number":null,"x":null`),
		"null time":                      set(`"created_at":"2025-04-07T03:47:13Z"`, `"created_at":null`),
		"null list":                      set(`"teams":[{"id":"T1"}]`, `"teams":null`),
		"null in a list":                 set(`"teams":[{"id":"T1"}]`, `"teams":[null,{"id":"T1"}]`),
		"minus zero":                     set(`"number":37`, `"number":-0`),
		"number as conf number":          set(`"+1 555,,1#"`, `1e400`),
		"\\u in an unknown value":        set(`"number":37`, `"number":37,"x":{"\u0041":"\u00e9\ud800"}`),
		"bad utf-8 in unknown":           set(`"number":37`, "\"number\":37,\"x\":\"\xff\""),
		"nested unknown":                 set(`"number":37`, `"number":37,"x":`+strings.Repeat(`{"a":[`, 100)+strings.Repeat(`]}`, 100)),
		"unknown top-level key":          strings.Replace(base, `{"event"`, `{"x":[1,2.5e-3,true,false,null,"s"],"event"`, 1),
		"unknown case of an unknown key": set(`"number":37`, `"number":37,"Number_x":1`),
	}
	fallback := map[string]string{
		"case-folded key":       set(`"title"`, `"Title"`),
		"case-folded duplicate": set(`"number":37`, `"number":37,"NUMBER":38`),
		"kelvin sign":           set(`"incident_key"`, "\"incident_\u212aey\""),
		"long s":                set(`"status"`, "\"\u017ftatus\""),
		"duplicate data key":    set(`"title":"Disk full"`, `"title":"Disk full","title":"x"`),
		"duplicate event":       base[:len(base)-1] + `,"event":{}}`,
		"escaped key":           set(`"title"`, `"t\u0069tle"`),
		"\\u in a string":       set(`"Disk full"`, `"Disk \u0066ull"`),
		"bad utf-8 in a string": set(`"Disk full"`, "\"Disk \xffull\""),
		"fraction":              set(`"number":37`, `"number":37.0`),
		"exponent":              set(`"number":37`, `"number":3.7e1`),
		"huge number":           set(`"number":37`, `"number":1234567890123456789`),
		"too deep":              set(`"number":37`, `"number":37,"x":`+strings.Repeat(`[`, 600)+strings.Repeat(`]`, 600)),
		"trailing garbage":      base + ` x`,
		"number for a string":   set(`"Disk full"`, `5`),
		"data null":             strings.Replace(fullPingBody, `"data":{"message":"Hello","type":"ping"}`, `"data":null`, 1),
	}
	for name, body := range once {
		if !agreeOnce(t, []byte(body)) {
			t.Errorf("%s: not decoded in one pass: %s", name, body)
		}
	}
	for name, body := range fallback {
		if agreeOnce(t, []byte(body)) {
			t.Errorf("%s: decoded in one pass, want decodeInTwo: %s", name, body)
		}
	}
}

// A body the one-pass path must refuse is still decoded, by decodeInTwo: a
// key encoding/json matches ignoring case ("NUMBER" sets number) shows it.
func TestDecodeFallsBackOnAFoldedDuplicate(t *testing.T) {
	body := []byte(strings.Replace(fullIncidentBody, `"number":37`, `"number":37,"NUMBER":38`, 1))
	if decodeOnce(body) != nil {
		t.Fatal("decodeOnce took a body with a case-folded duplicate key")
	}
	env, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if env.Event.Data.Incident.Number != 38 || env.Event.Data.Raw == nil {
		t.Fatalf("got number %d, raw %d bytes; want 38 (the last key, as encoding/json) from decodeInTwo",
			env.Event.Data.Incident.Number, len(env.Event.Data.Raw))
	}
}

// The benchmark's body and the project's own sample bodies take the one-pass
// path, with or without the specs folder.
func TestDecodeOnceTakesTheBenchBody(t *testing.T) {
	for _, rel := range []string{"webhooks/incident.resolved.json", "webhooks/incident.triggered.json", "webhooks/pagey.ping.json"} {
		if !agreeOnce(t, testspecs.Sample(t, rel)) {
			t.Errorf("%s: not decoded in one pass", rel)
		}
	}
}
