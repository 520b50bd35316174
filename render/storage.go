package render

import (
	"bytes"
	htmltemplate "html/template"
	"net/url"
	"reflect"
	"strings"
)

// The post-mortem page in Confluence's storage format (XHTML with
// Confluence's ac: elements), rendered from the same Page as the Jira
// description, section for section, so the two stay one page with two
// spellings.
//
// It is an html/template: every value from PagerDuty, Jira or people is
// escaped for XHTML wherever it lands (text, attribute, link), so none
// can open an element, a macro or a link of its own; a link is made only of
// an http(s) address. Before that, Storage drops what XML cannot carry at
// all (control characters, invalid UTF-8), which Confluence would refuse
// the whole page for.

var storageTemplate = htmltemplate.Must(htmltemplate.New("storage.tmpl").Funcs(htmltemplate.FuncMap{
	"link":  storageLink,
	"lines": storageLines,
	"join":  strings.Join,
}).Option("missingkey=error").ParseFS(files, "templates/storage.tmpl"))

// anchor is a link for the template: URL is "" when the address is not
// http(s), and then the text stands alone.
type anchor struct{ Text, URL string }

func storageLink(text, raw string) anchor {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return anchor{Text: text}
	}
	if text == "" {
		text = raw
	}
	return anchor{Text: text, URL: u.String()}
}

// storageLines splits a note into its lines, without blank ones, for
// <br/> between them.
func storageLines(s string) []string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// Storage renders the post-mortem page in Confluence storage format.
// Confluence takes far more than Jira's 32,767 characters, so the page is
// not fitted (Cut is shown as it is: empty unless Fit set it).
func Storage(p Page) (string, error) {
	clean := xmlSafe(reflect.ValueOf(p)).Interface().(Page)
	var b bytes.Buffer
	if err := storageTemplate.Execute(&b, clean); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()) + "\n", nil
}

// xmlSafe returns a deep copy of v with every string made fit for XML 1.0:
// valid UTF-8, without the control characters it forbids (tab and line
// feed are kept, a carriage return becomes a line feed) nor U+FFFE and
// U+FFFF. The caller's slices and pointers are left as they are.
func xmlSafe(v reflect.Value) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	switch v.Kind() {
	case reflect.String:
		out.SetString(xmlText(v.String()))
	case reflect.Struct:
		for i := range v.NumField() {
			if out.Field(i).CanSet() {
				out.Field(i).Set(xmlSafe(v.Field(i)))
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			return out
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			s.Index(i).Set(xmlSafe(v.Index(i)))
		}
		out.Set(s)
	case reflect.Pointer:
		if v.IsNil() {
			return out
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(xmlSafe(v.Elem()))
		out.Set(p)
	default:
		out.Set(v)
	}
	return out
}

func xmlText(s string) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\r\n", "\n"), "\uFFFD")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\r':
			return '\n'
		case r == '\t' || r == '\n':
			return r
		case r < ' ' || r == 0xFFFE || r == 0xFFFF:
			return -1
		}
		return r
	}, s)
}
