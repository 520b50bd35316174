package notifysim

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"strings"
)

// Part is one leaf of a mail's MIME tree, decoded.
type Part struct {
	ContentType string // the media type, e.g. text/calendar
	Params      map[string]string
	Filename    string // "" unless an attachment names one
	Body        []byte // after the transfer encoding is undone
}

// Header returns the message's header (Subject, To, ...), as a mail client
// reads it; encoded words (RFC 2047) are left as they are.
func (m Mail) Header() (netmail.Header, error) {
	msg, err := netmail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		return nil, fmt.Errorf("read the message: %w", err)
	}
	return msg.Header, nil
}

// Subject is the message's decoded subject ("" when it has none).
func (m Mail) Subject() string {
	h, err := m.Header()
	if err != nil {
		return ""
	}
	s := h.Get("Subject")
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// Parts reads the message as a mail client would: its headers, then each
// leaf of the multipart tree with its transfer encoding (base64,
// quoted-printable) undone.
func (m Mail) Parts() ([]Part, error) {
	msg, err := netmail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		return nil, fmt.Errorf("read the message: %w", err)
	}
	return parts(textproto.MIMEHeader(msg.Header), msg.Body)
}

func parts(h textproto.MIMEHeader, body io.Reader) ([]Part, error) {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	media, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, fmt.Errorf("content type %q: %w", ct, err)
	}
	if strings.HasPrefix(media, "multipart/") {
		var out []Part
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextRawPart()
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", media, err)
			}
			sub, err := parts(p.Header, p)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("%s body: %w", media, err)
	}
	p := Part{ContentType: media, Params: params, Body: b}
	if _, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil {
		p.Filename = dp["filename"]
	}
	return []Part{p}, nil
}
