package webhook

import (
	"unicode/utf8"
	"unsafe"
)

// scanner reads a JSON body in one pass, without reflection, for decodeOnce.
// It keeps to a subset of encoding/json where it is sure to decide as
// encoding/json does: every method returns false when the body is outside
// that subset (a syntax error, a type mismatch, an escape it does not decode,
// a key encoding/json would match ignoring case, ...), and decodeOnce then
// leaves the body to decodeInTwo, the reference.
type scanner struct {
	b     []byte
	s     string // b as a string, sharing its memory: the decoded strings are slices of it
	i     int    // the next byte to read
	depth int    // the objects and arrays open around i
}

// maxScanDepth bounds the nesting the scanner follows (encoding/json allows
// 10000; deeper than this the body goes to decodeInTwo).
const maxScanDepth = 512

// newScanner reads body in place: the strings it decodes share body's memory
// (no copy of a 1 to 64 KiB body per webhook), so body must not change
// while they are in use (see Decode).
func newScanner(body []byte) scanner {
	return scanner{b: body, s: unsafe.String(unsafe.SliceData(body), len(body))}
}

// peek skips JSON whitespace and returns the next byte, 0 at the end.
func (s *scanner) peek() byte {
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return c
		}
	}
	return 0
}

// eat reads c, the next byte after whitespace, if it is there.
func (s *scanner) eat(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.i++
	return true
}

// end says whether only whitespace is left.
func (s *scanner) end() bool {
	return s.peek() == 0 && s.i == len(s.b)
}

// lit reads the literal word (true, false, null).
func (s *scanner) lit(word string) bool {
	if s.peek() == 0 || len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// open reads the byte opening an object or array, within the depth bound.
func (s *scanner) open(c byte) bool {
	if !s.eat(c) || s.depth >= maxScanDepth {
		return false
	}
	s.depth++
	return true
}

// more reads what follows a member or element: true after a comma, false
// after close (ok true) or anything else (ok false).
func (s *scanner) more(close byte) (more, ok bool) {
	switch s.peek() {
	case ',':
		s.i++
		return true, true
	case close:
		s.i++
		s.depth--
		return false, true
	}
	return false, false
}

// object reads an object into a struct whose JSON names are names: field is
// called with the index of each name met, to read its value; the values of
// other keys are skipped (and checked). It refuses a name met twice (there
// encoding/json keeps the last value, or merges two objects), and a key that
// encoding/json might match to a name ignoring case (see key).
func (s *scanner) object(names []string, field func(k int) bool) bool {
	if !s.open('{') {
		return false
	}
	if s.eat('}') {
		s.depth--
		return true
	}
	var seen uint64
	for {
		k, ok := s.key(names)
		if !ok || !s.eat(':') {
			return false
		}
		if k < 0 {
			ok = s.skip()
		} else {
			ok = seen&(1<<k) == 0 && field(k)
			seen |= 1 << k
		}
		if !ok {
			return false
		}
		if more, ok := s.more('}'); !more {
			return ok
		}
	}
}

// key reads an object's key and returns the index of the name it is, or -1
// for another key. It refuses a key with an escape or a byte outside ASCII
// (encoding/json unescapes keys and folds some letters outside ASCII to
// ASCII ones, the Kelvin sign to k, the long s to s), and a key equal to a
// name but for the case of its letters (encoding/json would match it).
func (s *scanner) key(names []string) (int, bool) {
	if s.peek() != '"' {
		return -1, false
	}
	start := s.i + 1
	j := start
	for ; j < len(s.b) && s.b[j] != '"'; j++ {
		if c := s.b[j]; c < ' ' || c == '\\' || c >= utf8.RuneSelf {
			return -1, false
		}
	}
	if j == len(s.b) {
		return -1, false
	}
	s.i = j + 1
	key := s.b[start:j]
	for k, name := range names {
		if string(key) == name {
			return k, true
		}
	}
	for _, name := range names {
		if equalFoldASCII(key, name) {
			return -1, false
		}
	}
	return -1, true
}

// equalFoldASCII says whether the ASCII key and name are equal ignoring case.
func equalFoldASCII(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		n := name[i]
		if 'A' <= n && n <= 'Z' {
			n += 'a' - 'A'
		}
		if c != n {
			return false
		}
	}
	return true
}

// skip reads any JSON value, checking its syntax, and keeps nothing.
func (s *scanner) skip() bool {
	switch c := s.peek(); {
	case c == '{':
		return s.skipObject()
	case c == '[':
		return s.skipArray()
	case c == '"':
		return s.skipString()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || '0' <= c && c <= '9':
		_, ok := s.number()
		return ok
	}
	return false
}

func (s *scanner) skipObject() bool {
	if !s.open('{') {
		return false
	}
	if s.eat('}') {
		s.depth--
		return true
	}
	for {
		if s.peek() != '"' || !s.skipString() || !s.eat(':') || !s.skip() {
			return false
		}
		if more, ok := s.more('}'); !more {
			return ok
		}
	}
}

func (s *scanner) skipArray() bool {
	if !s.open('[') {
		return false
	}
	if s.eat(']') {
		s.depth--
		return true
	}
	for {
		if !s.skip() {
			return false
		}
		if more, ok := s.more(']'); !more {
			return ok
		}
	}
}

// skipString reads a string at i, checking its escapes (\u included) and
// that it has no control character; like encoding/json's syntax check it
// does not look at the UTF-8 of a string it does not keep.
func (s *scanner) skipString() bool {
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return true
		case c < ' ':
			return false
		case c == '\\':
			j++
			if j < len(s.b) && s.b[j] == 'u' {
				if j+4 >= len(s.b) || !isHex(s.b[j+1]) || !isHex(s.b[j+2]) || !isHex(s.b[j+3]) || !isHex(s.b[j+4]) {
					return false
				}
				j += 4
			} else if j == len(s.b) || unescaped[s.b[j]] == 0 {
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unescaped maps the byte after a backslash to the byte it stands for, for
// the escapes the scanner decodes (every one but \u); 0 for the others.
var unescaped = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// number reads a JSON number at i; integer says it has neither a fraction
// nor an exponent. What follows it is the caller's to check ("01" reads as
// 0 followed by 1, which no caller accepts).
func (s *scanner) number() (integer, ok bool) {
	j := s.i
	if j < len(s.b) && s.b[j] == '-' {
		j++
	}
	switch {
	case j < len(s.b) && s.b[j] == '0':
		j++
	case j < len(s.b) && '1' <= s.b[j] && s.b[j] <= '9':
		j = s.digits(j)
	default:
		return false, false
	}
	integer = true
	if j < len(s.b) && s.b[j] == '.' {
		integer = false
		if j = s.digits(j + 1); s.b[j-1] == '.' {
			return false, false
		}
	}
	if j < len(s.b) && (s.b[j] == 'e' || s.b[j] == 'E') {
		integer = false
		if j++; j < len(s.b) && (s.b[j] == '+' || s.b[j] == '-') {
			j++
		}
		start := j
		if j = s.digits(j); j == start {
			return false, false
		}
	}
	s.i = j
	return integer, true
}

// digits returns the index of the first byte from j that is not a digit.
func (s *scanner) digits(j int) int {
	for j < len(s.b) && '0' <= s.b[j] && s.b[j] <= '9' {
		j++
	}
	return j
}

// str reads a string value at i: the bytes between the quotes when they need
// no decoding, else the string the simple escapes stand for. It refuses a
// \u escape, a control character and invalid UTF-8 (encoding/json replaces
// each bad byte by U+FFFD).
func (s *scanner) str() (string, bool) {
	start := s.i + 1
	ascii := true
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			v := s.s[start:j]
			return v, ascii || utf8.ValidString(v)
		case c == '\\':
			return s.unescape(start)
		case c < ' ':
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// unescape reads the rest of a string with an escape, from its first byte.
func (s *scanner) unescape(start int) (string, bool) {
	buf := make([]byte, 0, 64)
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return string(buf), utf8.Valid(buf)
		case c < ' ':
			return "", false
		case c == '\\':
			if j++; j == len(s.b) || unescaped[s.b[j]] == 0 {
				return "", false
			}
			buf = append(buf, unescaped[s.b[j]])
		default:
			buf = append(buf, c)
		}
	}
	return "", false
}

// raw reads any value and returns its bytes, for a type's own UnmarshalJSON.
func (s *scanner) raw() ([]byte, bool) {
	s.peek()
	start := s.i
	if !s.skip() {
		return nil, false
	}
	return s.b[start:s.i], true
}
