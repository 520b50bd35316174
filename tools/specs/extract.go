package main

import (
	"bytes"
	"fmt"
)

// extract applies a lock's extract rule to src: the bytes between the first
// r.From after the marker r.After and the next r.To. The marker must occur
// exactly once, so that a change upstream that adds a second one fails
// instead of silently picking the wrong sample.
func extract(src []byte, r *Extract) ([]byte, error) {
	if r == nil {
		return src, nil
	}
	switch n := bytes.Count(src, []byte(r.After)); n {
	case 0:
		return nil, fmt.Errorf("extract: marker %q not found in the source", r.After)
	case 1:
	default:
		return nil, fmt.Errorf("extract: marker %q occurs %d times in the source, want once", r.After, n)
	}
	rest := src[bytes.Index(src, []byte(r.After))+len(r.After):]
	i := bytes.Index(rest, []byte(r.From))
	if i < 0 {
		return nil, fmt.Errorf("extract: opening delimiter %q not found after marker %q", r.From, r.After)
	}
	rest = rest[i+len(r.From):]
	j := bytes.Index(rest, []byte(r.To))
	if j < 0 {
		return nil, fmt.Errorf("extract: closing delimiter %q not found after %q", r.To, r.From)
	}
	return rest[:j], nil
}
