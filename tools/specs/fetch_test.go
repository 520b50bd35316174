package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Small synthetic fixtures: a whole "spec" and a source that two samples
// are cut out of.
const (
	specBody   = `{"openapi":"3.0.0","paths":{}}` + "\n"
	sourceBody = "class T {\n  void Resolve() {\n    body = \"\"\"{\"event\":\"resolved\"}\"\"\";\n  }\n" +
		"  void Ping() {\n    body = \"\"\"{\"event\":\"ping\"}\"\"\";\n  }\n}\n"
)

// upstream is a local stand-in for raw.githubusercontent.com that counts
// the requests for each path.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func serve(t *testing.T, routes map[string]http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{hits: map[string]int{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.hits[r.URL.Path]++
		u.mu.Unlock()
		h, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) count(p string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits[p]
}

func (u *upstream) total() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range u.hits {
		n += c
	}
	return n
}

func text(s string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, s) }
}

// whole is a lock entry for a file downloaded as it is.
func whole(path, url, content string) File {
	return File{Path: path, Source: Source{Origin: url}, URL: url, Size: int64(len(content)), SHA256: sha256Hex([]byte(content))}
}

// cutOut is a lock entry for a file cut out of source by rule.
func cutOut(t *testing.T, path, url, source string, rule Extract) File {
	t.Helper()
	b, err := extract([]byte(source), &rule)
	if err != nil {
		t.Fatal(err)
	}
	return File{Path: path, Source: Source{Origin: url}, URL: url, Extract: &rule, SourceSize: int64(len(source)), Size: int64(len(b)), SHA256: sha256Hex(b)}
}

func writeLock(t *testing.T, files ...File) string {
	t.Helper()
	l := &Lock{About: "test", Files: files}
	if err := l.check(); err != nil {
		t.Fatalf("test lock: %v", err)
	}
	p := filepath.Join(t.TempDir(), "specs.lock")
	if err := l.save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func fetchRun(t *testing.T, lockPath, dir string, extra ...string) (code int, stdout, stderr string) {
	t.Helper()
	args := append([]string{"fetch", "-lock", lockPath, "-dir", dir, "-timeout", "5s"}, extra...)
	var out, errb bytes.Buffer
	code = run(context.Background(), args, nil, &out, &errb, func(string) string { return "" })
	return code, out.String(), errb.String()
}

// files lists every file under dir, hidden and temporary ones included.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	sort.Strings(got)
	return got
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustWrite(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFetchDownloadsExtractsChecksAndWrites(t *testing.T) {
	up := serve(t, map[string]http.HandlerFunc{"/api.json": text(specBody), "/src/T.cs": text(sourceBody)})
	lock := writeLock(t,
		whole("api.json", up.URL+"/api.json", specBody),
		cutOut(t, "webhooks/incident.resolved.json", up.URL+"/src/T.cs", sourceBody, Extract{After: "Resolve()", From: `"""`, To: `"""`}),
		cutOut(t, "webhooks/pagey.ping.json", up.URL+"/src/T.cs", sourceBody, Extract{After: "Ping()", From: `"""`, To: `"""`}),
	)
	dir := filepath.Join(t.TempDir(), "shared", "specs")
	code, out, errOut := fetchRun(t, lock, dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if got := readFile(t, filepath.Join(dir, "webhooks", "incident.resolved.json")); got != `{"event":"resolved"}` {
		t.Fatalf("incident.resolved.json = %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "webhooks", "pagey.ping.json")); got != `{"event":"ping"}` {
		t.Fatalf("pagey.ping.json = %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "api.json")); got != specBody {
		t.Fatalf("api.json = %q", got)
	}
	if n := up.count("/src/T.cs"); n != 1 {
		t.Fatalf("the shared source was downloaded %d times, want once per run", n)
	}
	if want := []string{"api.json", "webhooks/incident.resolved.json", "webhooks/pagey.ping.json"}; fmt.Sprint(files(t, dir)) != fmt.Sprint(want) {
		t.Fatalf("folder holds %v, want %v (no temporary files)", files(t, dir), want)
	}
	for _, want := range []string{"fetched  api.json (", "fetched  webhooks/pagey.ping.json (", ": 3 files: 0 kept, 3 fetched, 0 updated, 0 failed\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestFetchKeepsARightFileWithoutARequest(t *testing.T) {
	up := serve(t, map[string]http.HandlerFunc{})
	lock := writeLock(t,
		whole("api.json", up.URL+"/api.json", specBody),
		cutOut(t, "webhooks/pagey.ping.json", up.URL+"/src/T.cs", sourceBody, Extract{After: "Ping()", From: `"""`, To: `"""`}),
	)
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "api.json"), specBody)
	mustWrite(t, filepath.Join(dir, "webhooks", "pagey.ping.json"), `{"event":"ping"}`)
	code, out, errOut := fetchRun(t, lock, dir)
	if code != 0 || up.total() != 0 {
		t.Fatalf("exit %d after %d requests, want 0 and none\n%s%s", code, up.total(), out, errOut)
	}
	want := "kept     api.json\nkept     webhooks/pagey.ping.json\nspecs in " + dir + ": 2 files: 2 kept, 0 fetched, 0 updated, 0 failed\n"
	if out != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestFetchReplacesAWrongFile(t *testing.T) {
	up := serve(t, map[string]http.HandlerFunc{"/api.json": text(specBody)})
	lock := writeLock(t, whole("api.json", up.URL+"/api.json", specBody))
	dir := t.TempDir()
	stale := `{"openapi":"2.0"}`
	mustWrite(t, filepath.Join(dir, "api.json"), stale)
	code, out, errOut := fetchRun(t, lock, dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if got := readFile(t, filepath.Join(dir, "api.json")); got != specBody {
		t.Fatalf("api.json = %q, want the pinned bytes", got)
	}
	if !strings.Contains(out, "fetched  api.json (") || !strings.Contains(out, "replacing a file with sha256 "+sha256Hex([]byte(stale))) {
		t.Fatalf("output does not say what it replaced:\n%s", out)
	}
	if got := files(t, dir); fmt.Sprint(got) != "[api.json]" {
		t.Fatalf("folder holds %v", got)
	}
}

func TestFetchFollowsRedirects(t *testing.T) {
	up := serve(t, map[string]http.HandlerFunc{
		"/old/api.json": func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/new/api.json", http.StatusFound) },
		"/new/api.json": text(specBody),
	})
	lock := writeLock(t, whole("api.json", up.URL+"/old/api.json", specBody))
	dir := t.TempDir()
	if code, out, errOut := fetchRun(t, lock, dir); code != 0 || readFile(t, filepath.Join(dir, "api.json")) != specBody {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

// Each way a download can go wrong fails with one line naming the file and
// the expected and actual sha256, and writes nothing.
func TestFetchFailuresWriteNothing(t *testing.T) {
	if len(specBody) != 31 {
		t.Fatalf("the fixture is %d bytes; the messages below expect 31", len(specBody))
	}
	wrong := strings.Replace(specBody, "3.0.0", "3.1.0", 1) // same size, other bytes
	cases := []struct {
		name    string
		handler http.HandlerFunc
		rule    *Extract
		reason  string
		got     string
	}{
		{"sha256 mismatch", text(wrong), nil,
			"sha256 mismatch: URL served 31 bytes, the lock pins 31", sha256Hex([]byte(wrong))},
		{"missing upstream (404)", http.NotFound, nil,
			"URL: not found upstream (HTTP 404): is the pinned commit or path right?", "none"},
		{"server error", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusBadGateway) }, nil,
			"URL: HTTP 502 Bad Gateway", "none"},
		{"Content-Length announced, connection closed after fewer bytes", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "31")
			fmt.Fprint(w, specBody[:10])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the server closes the connection mid-body
		}, nil, "URL: download cut short after 10 bytes of 31 (connection closed)", "none"},
		{"hijacked and closed mid-body", func(w http.ResponseWriter, _ *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				panic(err)
			}
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: 31\r\n\r\n%s", specBody[:12])
			buf.Flush()
			conn.Close()
		}, nil, "URL: download cut short after 12 bytes of 31 (connection closed)", "none"},
		{"hijacked and closed before answering", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				panic(err)
			}
			conn.Close()
		}, nil, "URL: connection closed before a complete response", "none"},
		{"larger than the lock allows", text(specBody + strings.Repeat(" ", 100)), nil,
			"URL: announces 131 bytes, more than the 31 the lock allows", "none"},
		{"larger than the lock allows, unannounced", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, specBody)
			w.(http.Flusher).Flush() // chunked: no Content-Length
			fmt.Fprint(w, strings.Repeat(" ", 100))
		}, nil, "URL: larger than the 31 bytes the lock allows", "none"},
		{"an endless body", func(w http.ResponseWriter, r *http.Request) {
			chunk := []byte(strings.Repeat("x", 32<<10))
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, nil, "URL: larger than the 31 bytes the lock allows", "none"},
		{"extract marker missing upstream", text(sourceBody), &Extract{After: "Acknowledge()", From: `"""`, To: `"""`},
			`URL: extract: marker "Acknowledge()" not found in the source`, "none"},
		{"extract delimiter missing upstream", text(sourceBody), &Extract{After: "Ping()", From: "```json\n", To: "```"},
			"URL: extract: opening delimiter \"```json\\n\" not found after marker \"Ping()\"", "none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := serve(t, map[string]http.HandlerFunc{"/spec.json": tc.handler})
			f := whole("spec.json", up.URL+"/spec.json", specBody)
			if tc.rule != nil {
				f.Extract, f.SourceSize = tc.rule, int64(len(sourceBody))
			}
			dir := t.TempDir()
			code, out, errOut := fetchRun(t, writeLock(t, f), dir)
			want := "failed   spec.json: " + strings.ReplaceAll(tc.reason, "URL", f.URL) +
				"; expected sha256 " + f.SHA256 + ", got " + tc.got + "\n"
			if code != 1 || !strings.HasPrefix(out, want) {
				t.Fatalf("exit %d, output:\n%s%s\nwant exit 1 and first line:\n%s", code, out, errOut, want)
			}
			if !strings.HasSuffix(out, ": 1 files: 0 kept, 0 fetched, 0 updated, 1 failed\n") {
				t.Fatalf("summary:\n%s", out)
			}
			if got := files(t, dir); len(got) != 0 {
				t.Fatalf("a failed fetch left %v behind", got)
			}
		})
	}
}

// A write that fails half-way leaves neither the file nor a temporary file.
func TestWriteAtomicLeavesNothingOnFailure(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "api.json")
	mustWrite(t, filepath.Join(dest, "inside"), "a folder where the file should go") // the rename fails
	if err := writeAtomic(dest, []byte(specBody)); err == nil || !strings.Contains(err.Error(), "write "+dest+": ") {
		t.Fatalf("writeAtomic over a folder = %v, want an error", err)
	}
	if got := files(t, dir); fmt.Sprint(got) != "[api.json/inside]" {
		t.Fatalf("folder holds %v after a failed write", got)
	}
}

func TestFetchTimesOut(t *testing.T) {
	up := serve(t, map[string]http.HandlerFunc{"/spec.json": func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}})
	f := whole("spec.json", up.URL+"/spec.json", specBody)
	dir := t.TempDir()
	code, out, _ := fetchRun(t, writeLock(t, f), dir, "-timeout", "200ms")
	if code != 1 || !strings.Contains(out, "failed   spec.json: "+f.URL+": no answer within 200ms") || len(files(t, dir)) != 0 {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestFetchWithoutNetworkSaysHowToCopyByHand(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close() // nothing listens there now
	lock := writeLock(t,
		whole("api.json", "http://"+host+"/api.json", specBody),
		whole("other.json", "http://"+host+"/other.json", specBody),
	)
	dir := t.TempDir()
	code, out, errOut := fetchRun(t, lock, dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, p := range []string{"api.json", "other.json"} {
		want := "failed   " + p + ": http://" + host + "/" + p + ": no network: cannot connect to " + host + ": "
		if !strings.Contains(out, want) || !strings.Contains(out, "; expected sha256 "+sha256Hex([]byte(specBody))+", got none\n") {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(errOut, "make specs needs network access to "+host+" (HTTPS).") != 1 || !strings.Contains(errOut, "copy the specs folder by hand") ||
		!strings.Contains(errOut, "go run ./tools/specs fetch -dir "+dir) {
		t.Fatalf("stderr does not say once how to do without network:\n%s", errOut)
	}
	if len(files(t, dir)) != 0 {
		t.Fatalf("left %v behind", files(t, dir))
	}
}

func TestFetchLeavesAnExistingFileAsItWasWhenTheDownloadFails(t *testing.T) {
	up := serve(t, map[string]http.HandlerFunc{})
	lock := writeLock(t, whole("api.json", up.URL+"/api.json", specBody))
	dir := t.TempDir()
	stale := `{"openapi":"2.0"}`
	mustWrite(t, filepath.Join(dir, "api.json"), stale)
	code, out, _ := fetchRun(t, lock, dir)
	if code != 1 || readFile(t, filepath.Join(dir, "api.json")) != stale {
		t.Fatalf("exit %d, file %q\n%s", code, readFile(t, filepath.Join(dir, "api.json")), out)
	}
	if !strings.Contains(out, "(the existing file, sha256 "+sha256Hex([]byte(stale))+", is left as it was)") {
		t.Fatalf("output does not say the old file is still there:\n%s", out)
	}
	if got := files(t, dir); fmt.Sprint(got) != "[api.json]" {
		t.Fatalf("folder holds %v", got)
	}
}

// After a pin changes, -update downloads every file and rewrites its size,
// sha256 and source_size in the lock; the next run keeps them all.
func TestFetchUpdateRewritesTheLock(t *testing.T) {
	up := serve(t, map[string]http.HandlerFunc{"/api.json": text(specBody), "/src/T.cs": text(sourceBody)})
	right := whole("api.json", up.URL+"/api.json", specBody)
	changed := cutOut(t, "webhooks/pagey.ping.json", up.URL+"/src/T.cs", sourceBody, Extract{After: "Ping()", From: `"""`, To: `"""`})
	wantSize, wantSum, wantSource := changed.Size, changed.SHA256, changed.SourceSize
	changed.Size, changed.SHA256, changed.SourceSize = 3, strings.Repeat("0", 64), 7 // the old pin's values
	lock := writeLock(t, right, changed)
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "api.json"), specBody)

	code, out, errOut := fetchRun(t, lock, dir, "-update")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"kept     api.json\n",
		fmt.Sprintf("updated  webhooks/pagey.ping.json: lock now %d bytes, sha256 %s (was 3, %s)\n", wantSize, wantSum, strings.Repeat("0", 64)),
		"1 kept, 0 fetched, 1 updated, 0 failed\n",
		"rewrote " + lock + ": 1 entries updated",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	l, err := loadLock(lock)
	if err != nil {
		t.Fatal(err)
	}
	got := l.Files[1]
	if got.Size != wantSize || got.SHA256 != wantSum || got.SourceSize != wantSource || l.Files[0] != right {
		t.Fatalf("lock after -update: %+v, %+v", l.Files[0], got)
	}
	if readFile(t, filepath.Join(dir, "webhooks", "pagey.ping.json")) != `{"event":"ping"}` {
		t.Fatal("-update did not write the file")
	}

	before := up.total()
	if code, out, _ := fetchRun(t, lock, dir); code != 0 || !strings.Contains(out, "2 kept, 0 fetched") || up.total() != before {
		t.Fatalf("after -update: exit %d, %d requests\n%s", code, up.total()-before, out)
	}
}

// -update with nothing changed leaves the lock file untouched.
func TestFetchUpdateWithoutChangeKeepsTheLock(t *testing.T) {
	up := serve(t, map[string]http.HandlerFunc{"/api.json": text(specBody)})
	lock := writeLock(t, whole("api.json", up.URL+"/api.json", specBody))
	before := readFile(t, lock)
	code, out, _ := fetchRun(t, lock, t.TempDir(), "-update")
	if code != 0 || strings.Contains(out, "rewrote") || readFile(t, lock) != before || up.count("/api.json") != 1 {
		t.Fatalf("exit %d, %d requests\n%s", code, up.count("/api.json"), out)
	}
}

func TestDefaultDir(t *testing.T) {
	if got, err := defaultDir(func(k string) string { return map[string]string{specsEnv: "/srv/specs"}[k] }); err != nil || got != "/srv/specs" {
		t.Fatalf("with %s set: %q, %v", specsEnv, got, err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(filepath.Dir(root), "shared", "specs")
	if got, err := defaultDir(func(string) string { return "" }); err != nil || got != want {
		t.Fatalf("default dir %q, %v; want %q (../shared/specs beside the module)", got, err, want)
	}
	if got, err := defaultLock(""); err != nil || got != filepath.Join(root, "testdata", "specs.lock") {
		t.Fatalf("default lock %q, %v", got, err)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nonsense"}, {"fetch", "extra"}, {"skips", "-nope"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), &out, &errb, func(string) string { return "" }); code != 2 {
			t.Fatalf("run %q = %d, want 2 (usage)\n%s", args, code, errb.String())
		}
	}
}
