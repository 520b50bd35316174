package simkit

import (
	"io"
	"net/http"
)

// Exchange is the raw round trip of a simulator's tests: it applies hdr to
// req's header (a "-" value removes the header), sends req with
// http.DefaultClient and returns the response with its body read and
// closed.
func Exchange(req *http.Request, hdr map[string]string) (*http.Response, []byte, error) {
	for k, v := range hdr {
		if v == "-" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	return resp, raw, nil
}
