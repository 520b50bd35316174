package simkit

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestLoopbackClose checks that close keeps httptest.Server's promises:
// it waits for a request being served, which is answered in full, but not
// for a keep-alive connection left idle nor for one that never sent a
// request; afterwards nothing listens, and a second close is harmless.
func TestLoopbackClose(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	l := serveLoopback(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		_, _ = io.WriteString(w, "done "+r.URL.Path)
	}))
	t.Cleanup(l.close)
	u, err := url.Parse(l.url)
	if err != nil || u.Scheme != "http" || !strings.HasPrefix(u.Host, "127.0.0.1:") && !strings.HasPrefix(u.Host, "[::1]:") {
		t.Fatalf("url %q: %v", l.url, err)
	}

	// An idle keep-alive connection on a transport close does not know.
	idle := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	if body := get(t, idle, l.url+"/fast"); body != "done /fast" {
		t.Fatalf("fast: %q", body)
	}
	// A connection that never sends a request.
	silent, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// A request being served when close is called.
	slow := make(chan string, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(l.url + "/slow")
		if err != nil {
			slow <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the handler")
	}

	closed := make(chan struct{})
	go func() { l.close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("close returned while a request was being served")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("close did not return once the request was answered; it waits for idle or unused connections")
	}
	if got := <-slow; got != "done /slow" {
		t.Fatalf("the request served during close got %q", got)
	}
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := silent.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("the unused connection is still open: read %d, %v", n, err)
	}
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still listens after close", u.Host)
	}
	l.close()
}

func get(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
