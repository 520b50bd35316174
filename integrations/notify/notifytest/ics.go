package notifytest

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// A strict RFC 5545 reader for the tests, a second opinion besides
// golang-ical (which accepts much that clients refuse): content lines and
// their folding (3.1), parameter values (3.2), TEXT escaping (3.3.11),
// DATE-TIME values (3.3.5), components that nest, the properties a
// calendar and an event must have, and a VTIMEZONE that agrees with the
// zone it names.

// ICSProp is one content line of a calendar.
type ICSProp struct {
	Name   string
	Params map[string][]string // values unquoted
	Value  string              // as written (TEXT still escaped)
}

// ICSComp is a component (VCALENDAR, VEVENT, VTIMEZONE...) and what it holds.
type ICSComp struct {
	Name  string
	Props []ICSProp
	Comps []*ICSComp
}

// Properties returns the properties named name.
func (c *ICSComp) Properties(name string) []ICSProp {
	var out []ICSProp
	for _, p := range c.Props {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// Components returns the components named name.
func (c *ICSComp) Components(name string) []*ICSComp {
	var out []*ICSComp
	for _, s := range c.Comps {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

var (
	icsName     = regexp.MustCompile(`^[A-Za-z0-9-]+`)
	icsDateTime = regexp.MustCompile(`^\d{8}T\d{6}Z?$`)
	// A CAL-ADDRESS as this project writes it (3.3.3): a mailto: URI.
	icsCalAddress = regexp.MustCompile(`^(?i:mailto):[^\s<>"@]+@[^\s<>"@]+$`)
	// TEXT properties this project writes or could: their ; and , must be escaped.
	icsTextProps = []string{"SUMMARY", "DESCRIPTION", "LOCATION", "COMMENT", "UID", "PRODID", "TZNAME", "CONTACT"}
)

func isICSCTL(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }

// StrictICS parses raw, or says the first way it breaks RFC 5545.
func StrictICS(raw []byte) (*ICSComp, error) {
	if !utf8.Valid(raw) {
		return nil, errors.New("not UTF-8")
	}
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		return nil, errors.New("the last line does not end with CRLF")
	}
	physical := strings.Split(strings.TrimSuffix(string(raw), "\r\n"), "\r\n")
	var logical []string
	for i, l := range physical {
		if strings.ContainsAny(l, "\r\n") {
			return nil, fmt.Errorf("line %d: a bare CR or LF", i+1)
		}
		if len(l) > 75 {
			return nil, fmt.Errorf("line %d: %d octets, over 75", i+1, len(l))
		}
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
			if len(logical) == 0 {
				return nil, fmt.Errorf("line %d: a continuation with nothing to continue", i+1)
			}
			logical[len(logical)-1] += l[1:]
			continue
		}
		logical = append(logical, l)
	}
	var stack []*ICSComp
	var top *ICSComp
	for i, l := range logical {
		p, err := icsContentLine(l)
		if err != nil {
			return nil, fmt.Errorf("content line %d %q: %w", i+1, l, err)
		}
		switch p.Name {
		case "BEGIN":
			c := &ICSComp{Name: strings.ToUpper(p.Value)}
			if len(stack) == 0 {
				if top != nil {
					return nil, errors.New("more than one top-level component")
				}
				top = c
			} else {
				stack[len(stack)-1].Comps = append(stack[len(stack)-1].Comps, c)
			}
			stack = append(stack, c)
		case "END":
			if len(stack) == 0 || stack[len(stack)-1].Name != strings.ToUpper(p.Value) {
				return nil, fmt.Errorf("content line %d: END:%s closes nothing open", i+1, p.Value)
			}
			stack = stack[:len(stack)-1]
		default:
			if len(stack) == 0 {
				return nil, fmt.Errorf("content line %d: a property outside any component", i+1)
			}
			if slices.Contains(icsTextProps, p.Name) {
				if err := icsCheckText(p.Value); err != nil {
					return nil, fmt.Errorf("%s: %w", p.Name, err)
				}
			}
			stack[len(stack)-1].Props = append(stack[len(stack)-1].Props, p)
		}
	}
	if len(stack) != 0 || top == nil || top.Name != "VCALENDAR" {
		return nil, errors.New("not one whole VCALENDAR")
	}
	return top, icsCheckCalendar(top)
}

// icsContentLine reads name *(";" param) ":" value (RFC 5545 3.1).
func icsContentLine(l string) (ICSProp, error) {
	p := ICSProp{Params: map[string][]string{}}
	loc := icsName.FindStringIndex(l)
	if loc == nil {
		return p, errors.New("no name")
	}
	p.Name, l = strings.ToUpper(l[:loc[1]]), l[loc[1]:]
	for strings.HasPrefix(l, ";") {
		l = l[1:]
		loc := icsName.FindStringIndex(l)
		if loc == nil || !strings.HasPrefix(l[loc[1]:], "=") {
			return p, errors.New("a parameter with no name=")
		}
		name := strings.ToUpper(l[:loc[1]])
		l = l[loc[1]+1:]
		for {
			var v string
			if strings.HasPrefix(l, `"`) {
				end := strings.IndexByte(l[1:], '"')
				if end < 0 {
					return p, fmt.Errorf("parameter %s: an unclosed quote", name)
				}
				v, l = l[1:1+end], l[end+2:]
				if strings.ContainsFunc(v, isICSCTL) {
					return p, fmt.Errorf("parameter %s: a control character in a quoted value", name)
				}
			} else {
				end := strings.IndexAny(l, ";:,")
				if end < 0 {
					return p, fmt.Errorf("parameter %s: no value or no ':' after it", name)
				}
				v, l = l[:end], l[end:]
				if strings.ContainsFunc(v, isICSCTL) || strings.Contains(v, `"`) {
					return p, fmt.Errorf("parameter %s: %q must be quoted or cannot be written", name, v)
				}
			}
			p.Params[name] = append(p.Params[name], v)
			if !strings.HasPrefix(l, ",") {
				break
			}
			l = l[1:]
		}
		if !strings.HasPrefix(l, ";") && !strings.HasPrefix(l, ":") {
			return p, fmt.Errorf("parameter %s: %q after its value (a value with , ; or : must be quoted)", name, l)
		}
	}
	if !strings.HasPrefix(l, ":") {
		return p, errors.New("no ':' before the value")
	}
	p.Value = l[1:]
	if strings.ContainsFunc(p.Value, isICSCTL) {
		return p, errors.New("a control character in the value")
	}
	for name, v := range p.Params {
		if len(v) > 1 && !slices.Contains([]string{"MEMBER", "DELEGATED-TO", "DELEGATED-FROM"}, name) {
			return p, fmt.Errorf("parameter %s has %d values %q: an unquoted comma?", name, len(v), v)
		}
	}
	if (p.Name == "ATTENDEE" || p.Name == "ORGANIZER") && !icsCalAddress.MatchString(p.Value) {
		return p, fmt.Errorf("%s %q is not a mailto: address", p.Name, p.Value)
	}
	if v := p.Params["RSVP"]; v != nil && !slices.Contains([]string{"TRUE", "FALSE"}, strings.ToUpper(strings.Join(v, ","))) {
		return p, fmt.Errorf("RSVP=%v", v)
	}
	return p, nil
}

// icsCheckText: in TEXT, a backslash escapes \ ; , n or N, and ; and , are
// always escaped (3.3.11).
func icsCheckText(v string) error {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if i+1 >= len(v) || !strings.ContainsRune(`\;,nN`, rune(v[i+1])) {
				return fmt.Errorf("a bad escape at %d in %q", i, v)
			}
			i++
		case ';', ',':
			return fmt.Errorf("an unescaped %q at %d in %q", v[i], i, v)
		}
	}
	return nil
}

// ICSUnText undoes TEXT escaping.
func ICSUnText(v string) string {
	return strings.NewReplacer(`\\`, `\`, `\;`, ";", `\,`, ",", `\n`, "\n", `\N`, "\n").Replace(v)
}

func icsCheckCalendar(cal *ICSComp) error {
	for _, name := range []string{"VERSION", "PRODID"} {
		if len(cal.Properties(name)) != 1 {
			return fmt.Errorf("VCALENDAR: %d %s, want 1", len(cal.Properties(name)), name)
		}
	}
	if cal.Properties("VERSION")[0].Value != "2.0" {
		return errors.New("VERSION is not 2.0")
	}
	zones := map[string]*ICSComp{}
	for _, z := range cal.Components("VTIMEZONE") {
		id := z.Properties("TZID")
		if len(id) != 1 || len(z.Comps) == 0 {
			return errors.New("a VTIMEZONE needs one TZID and an observance")
		}
		zones[id[0].Value] = z
	}
	events := cal.Components("VEVENT")
	if len(events) == 0 {
		return errors.New("no VEVENT")
	}
	for _, ev := range events {
		for _, name := range []string{"UID", "DTSTAMP", "DTSTART"} {
			if len(ev.Properties(name)) != 1 {
				return fmt.Errorf("VEVENT: %d %s, want 1", len(ev.Properties(name)), name)
			}
		}
		var start time.Time
		for _, name := range []string{"DTSTAMP", "DTSTART", "DTEND"} {
			for _, p := range ev.Properties(name) {
				t, err := icsInstant(p, zones)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if name == "DTSTART" {
					start = t
				}
				if name == "DTEND" && !t.After(start) {
					return errors.New("DTEND is not after DTSTART")
				}
			}
		}
	}
	return nil
}

// ICSStart is the instant of an event's DTSTART.
func ICSStart(cal *ICSComp) (time.Time, error) {
	zones := map[string]*ICSComp{}
	for _, z := range cal.Components("VTIMEZONE") {
		zones[z.Properties("TZID")[0].Value] = z
	}
	return icsInstant(cal.Components("VEVENT")[0].Properties("DTSTART")[0], zones)
}

// icsInstant reads a DATE-TIME: in UTC (Z), or local time in a TZID whose
// VTIMEZONE is in the calendar. A floating time is refused: a meeting
// request must say when. A VTIMEZONE must agree with the IANA zone of its
// name at the instant and through that year: the checker reads
// observances with no RRULE (each holds from its DTSTART on).
func icsInstant(p ICSProp, zones map[string]*ICSComp) (time.Time, error) {
	if !icsDateTime.MatchString(p.Value) {
		return time.Time{}, fmt.Errorf("%q is not a DATE-TIME", p.Value)
	}
	tzid := p.Params["TZID"]
	if strings.HasSuffix(p.Value, "Z") {
		if tzid != nil {
			return time.Time{}, errors.New("a UTC time with a TZID")
		}
		return time.Parse("20060102T150405Z", p.Value)
	}
	if len(tzid) != 1 {
		return time.Time{}, fmt.Errorf("%s is a floating time", p.Value)
	}
	z, ok := zones[tzid[0]]
	if !ok {
		return time.Time{}, fmt.Errorf("no VTIMEZONE for %s", tzid[0])
	}
	local, err := time.Parse("20060102T150405", p.Value)
	if err != nil {
		return time.Time{}, err
	}
	off, err := icsOffsetAt(z, local)
	if err != nil {
		return time.Time{}, err
	}
	t := local.Add(-time.Duration(off) * time.Second)
	if loc, err := time.LoadLocation(tzid[0]); err == nil {
		for _, probe := range []time.Time{t, time.Date(t.Year(), 1, 15, 12, 0, 0, 0, time.UTC), time.Date(t.Year(), 7, 15, 12, 0, 0, 0, time.UTC)} {
			_, want := probe.In(loc).Zone()
			localProbe := probe.Add(time.Duration(want) * time.Second)
			got, err := icsOffsetAt(z, time.Date(localProbe.Year(), localProbe.Month(), localProbe.Day(), localProbe.Hour(), 0, 0, 0, time.UTC))
			if err != nil {
				return time.Time{}, err
			}
			if got != want {
				return time.Time{}, fmt.Errorf("the VTIMEZONE %s says UTC%+d on %s, the zone says UTC%+d", tzid[0], got/3600, probe.Format("2006-01-02"), want/3600)
			}
		}
	}
	return t, nil
}

// icsOffsetAt is the TZOFFSETTO, in seconds, of the latest observance
// that starts by local.
func icsOffsetAt(z *ICSComp, local time.Time) (int, error) {
	best, found := time.Time{}, false
	off := 0
	for _, o := range z.Comps {
		if o.Name != "STANDARD" && o.Name != "DAYLIGHT" {
			return 0, fmt.Errorf("a %s in a VTIMEZONE", o.Name)
		}
		if len(o.Properties("RRULE")) > 0 || len(o.Properties("RDATE")) > 0 {
			return 0, errors.New("an observance with RRULE or RDATE: this checker cannot read it")
		}
		ds, to := o.Properties("DTSTART"), o.Properties("TZOFFSETTO")
		if len(ds) != 1 || len(to) != 1 || len(o.Properties("TZOFFSETFROM")) != 1 {
			return 0, errors.New("an observance needs DTSTART, TZOFFSETFROM and TZOFFSETTO")
		}
		s, err := time.Parse("20060102T150405", ds[0].Value)
		if err != nil {
			return 0, fmt.Errorf("observance DTSTART %q", ds[0].Value)
		}
		var sign, h, m int
		if _, err := fmt.Sscanf(to[0].Value[1:], "%02d%02d", &h, &m); err != nil || !strings.ContainsRune("+-", rune(to[0].Value[0])) {
			return 0, fmt.Errorf("TZOFFSETTO %q", to[0].Value)
		}
		sign = 1
		if to[0].Value[0] == '-' {
			sign = -1
		}
		if !s.After(local) && (!found || s.After(best)) {
			best, found, off = s, true, sign*(h*3600+m*60)
		}
	}
	if !found {
		return 0, fmt.Errorf("no observance of the VTIMEZONE covers %s", local)
	}
	return off, nil
}
