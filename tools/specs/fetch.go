package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// updateCap bounds a download under -update, when the lock's sizes are the
// ones being replaced and cannot serve as the cap.
const updateCap = 256 << 20

// fetcher brings the specs folder in line with the lock.
type fetcher struct {
	lock   *Lock
	dir    string
	client *http.Client
	// update rewrites the lock's size and sha256 (and source_size) from
	// what the pinned URLs serve, instead of checking against them.
	update bool
	out    io.Writer

	// downloads holds each URL's result, so a source that several files
	// are extracted from is downloaded once per run.
	downloads map[string]download
	// offline are the hosts that could not be reached at all.
	offline map[string]bool
}

type download struct {
	body []byte
	err  error
}

// problem is why one file could not be brought in line: what went wrong
// and the sha256 of the bytes it got, if it got any.
type problem struct {
	reason string
	got    string
}

// counts is what a run did, for the summary.
type counts struct{ kept, fetched, updated, failed int }

func newFetcher(l *Lock, dir string, timeout time.Duration, out io.Writer) *fetcher {
	return &fetcher{
		lock:      l,
		dir:       dir,
		client:    &http.Client{Timeout: timeout},
		out:       out,
		downloads: map[string]download{},
		offline:   map[string]bool{},
	}
}

// run handles every file of the lock, printing one line per file.
func (fe *fetcher) run(ctx context.Context) counts {
	var c counts
	for i := range fe.lock.Files {
		f := &fe.lock.Files[i]
		status, detail, p := fe.one(ctx, f)
		if p != nil {
			c.failed++
			got := "none"
			if p.got != "" {
				got = p.got
			}
			fmt.Fprintf(fe.out, "failed   %s: %s; expected sha256 %s, got %s\n", f.Path, p.reason, f.SHA256, got)
			continue
		}
		switch status {
		case "kept":
			c.kept++
		case "fetched":
			c.fetched++
		case "updated":
			c.updated++
		}
		fmt.Fprintf(fe.out, "%-8s %s%s\n", status, f.Path, detail)
	}
	return c
}

// one brings one file in line: kept when it is already there with the
// right bytes (no request made), else downloaded, extracted, checked and
// written atomically. A failure writes nothing and leaves whatever was
// there as it was.
func (fe *fetcher) one(ctx context.Context, f *File) (status, detail string, p *problem) {
	dest := filepath.Join(fe.dir, filepath.FromSlash(f.Path))
	have, haveSize, err := fileSum(dest)
	if err != nil {
		return "", "", &problem{reason: fmt.Sprintf("read the existing file: %v", err)}
	}
	if !fe.update && have == f.SHA256 && haveSize == f.Size {
		return "kept", "", nil
	}
	leftAs := ""
	if have != "" {
		leftAs = fmt.Sprintf(" (the existing file, sha256 %s, is left as it was)", have)
	}

	capBytes := fe.lock.downloadCap(f.URL)
	if fe.update {
		capBytes = updateCap
	}
	src, err := fe.get(ctx, f.URL, capBytes)
	if err != nil {
		return "", "", &problem{reason: err.Error() + leftAs}
	}
	data, err := extract(src, f.Extract)
	if err != nil {
		return "", "", &problem{reason: fmt.Sprintf("%s: %v%s", f.URL, err, leftAs)}
	}
	sum := sha256Hex(data)

	changed := false // under -update: the lock's values for f change
	if fe.update {
		changed = sum != f.SHA256 || int64(len(data)) != f.Size || (f.Extract != nil && int64(len(src)) != f.SourceSize)
	} else if sum != f.SHA256 || int64(len(data)) != f.Size {
		what := "served"
		if f.Extract != nil {
			what = "yields (extracted)"
		}
		return "", "", &problem{
			reason: fmt.Sprintf("sha256 mismatch: %s %s %d bytes, the lock pins %d%s", f.URL, what, len(data), f.Size, leftAs),
			got:    sum,
		}
	}

	status = "kept"
	if have != sum {
		if err := writeAtomic(dest, data); err != nil {
			return "", "", &problem{reason: err.Error() + leftAs, got: sum}
		}
		status = "fetched"
		detail = fmt.Sprintf(" (%d bytes from %s)", len(data), f.URL)
		if have != "" {
			detail = fmt.Sprintf(" (%d bytes from %s, replacing a file with sha256 %s)", len(data), f.URL, have)
		}
	}
	// The lock changes only once the file is written, so a rewritten lock
	// never pins bytes that are not in the folder.
	if changed {
		status = "updated"
		detail = fmt.Sprintf(": lock now %d bytes, sha256 %s (was %d, %s)", len(data), sum, f.Size, f.SHA256)
		f.Size, f.SHA256 = int64(len(data)), sum
		if f.Extract != nil {
			f.SourceSize = int64(len(src))
		}
	}
	return status, detail, nil
}

// fileSum returns the sha256 and size of the file at p, or "" when there is
// no such file.
func fileSum(p string) (string, int64, error) {
	fh, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return "", 0, err
	}
	if !fi.Mode().IsRegular() {
		return "", 0, fmt.Errorf("%s is not a regular file", p)
	}
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// get downloads u once per run, reading at most capBytes.
func (fe *fetcher) get(ctx context.Context, u string, capBytes int64) ([]byte, error) {
	if d, ok := fe.downloads[u]; ok {
		return d.body, d.err
	}
	body, err := fe.download(ctx, u, capBytes)
	fe.downloads[u] = download{body, err}
	return body, err
}

func (fe *fetcher) download(ctx context.Context, u string, capBytes int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	req.Header.Set("User-Agent", "aftermath-specs (make specs)")
	resp, err := fe.client.Do(req)
	if err != nil {
		return nil, fe.describe(u, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%s: not found upstream (HTTP 404): is the pinned commit or path right?", u)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: HTTP %s", u, resp.Status)
	case resp.ContentLength > capBytes:
		return nil, fmt.Errorf("%s: announces %d bytes, more than the %d the lock allows", u, resp.ContentLength, capBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, capBytes+1))
	of := "of an unannounced length"
	if resp.ContentLength >= 0 {
		of = fmt.Sprintf("of %d", resp.ContentLength)
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%s: download cut short after %d bytes %s (connection closed)", u, len(body), of)
	case err != nil:
		return nil, fmt.Errorf("%s: download interrupted after %d bytes %s: %w", u, len(body), of, err)
	case int64(len(body)) > capBytes:
		return nil, fmt.Errorf("%s: larger than the %d bytes the lock allows", u, capBytes)
	case resp.ContentLength >= 0 && int64(len(body)) != resp.ContentLength:
		return nil, fmt.Errorf("%s: download cut short after %d bytes %s", u, len(body), of)
	}
	return body, nil
}

// describe turns a failed request into a sentence, and remembers a host
// that could not be reached at all for the hint at the end.
func (fe *fetcher) describe(u string, err error) error {
	host := u
	if pu, perr := url.Parse(u); perr == nil {
		host = pu.Host
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var urlErr *url.Error
	switch {
	case errors.As(err, &dnsErr):
		fe.offline[host] = true
		return fmt.Errorf("%s: no network: %w", u, dnsErr)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		fe.offline[host] = true
		return fmt.Errorf("%s: no network: cannot connect to %s: %w", u, host, opErr.Err)
	case errors.As(err, &urlErr) && urlErr.Timeout():
		return fmt.Errorf("%s: no answer within %s: %w", u, fe.client.Timeout, err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: connection closed before a complete response", u)
	}
	return fmt.Errorf("%s: %w", u, err)
}

// offlineHint says what to do when hosts could not be reached.
func (fe *fetcher) offlineHint() string {
	if len(fe.offline) == 0 {
		return ""
	}
	hosts := make([]string, 0, len(fe.offline))
	for h := range fe.offline {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	return fmt.Sprintf("make specs needs network access to %s (HTTPS). Without it, copy the specs folder by hand "+
		"from a machine that has it (every file listed in testdata/specs.lock, same layout), for example "+
		"`rsync -a otherhost:path/to/shared/specs/ %s/`, then run `go run ./tools/specs fetch -dir %s`: "+
		"it checks each file's sha256 and needs no network when all are right.",
		strings.Join(hosts, ", "), fe.dir, fe.dir)
}

// writeAtomic writes data to dest through a temporary file in the same
// folder and a rename, so dest is either as it was or complete.
func writeAtomic(dest string, data []byte) (err error) {
	dir := filepath.Dir(dest)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", dest, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", dest, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", dest, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", dest, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", dest, err)
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", dest, err)
	}
	if err = os.Rename(tmp.Name(), dest); err != nil {
		return fmt.Errorf("write %s: %w", dest, err)
	}
	return nil
}
