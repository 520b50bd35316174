package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// profileChunk is the longest profile asked for at once: aftermath's server
// refuses a profile that would outlast its WriteTimeout (15 s), so a phase
// is profiled in consecutive chunks that pprof merges.
const profileChunk = 10 * time.Second

// profiler takes aftermath's CPU and allocation profiles during a measured
// phase, through its admin-guarded /debug/pprof/ routes.
type profiler struct {
	dir   string // where the profiles go
	addr  string // aftermath's listen address
	token string // aftermath's admin token, made up for the run
	// files are the profiles taken, by phase and kind ("cpu", "allocs").
	mu    sync.Mutex
	files map[string][]string
	errs  []string
}

func newProfiler(dir, addr, token string) *profiler {
	return &profiler{dir: dir, addr: addr, token: token, files: map[string][]string{}}
}

// during profiles the next d in chunks and returns a func that waits for
// the last chunk. phase names the files ("fixed", "max").
func (p *profiler) during(ctx context.Context, phase string, d time.Duration) (wait func()) {
	var wg sync.WaitGroup
	for _, kind := range []string{"cpu", "allocs"} {
		wg.Go(func() {
			left := d.Truncate(time.Second)
			for n := 1; left >= time.Second && ctx.Err() == nil; n++ {
				chunk := min(left, profileChunk)
				left -= chunk
				path := "/debug/pprof/profile"
				if kind == "allocs" {
					// The change over the chunk, not since the start.
					path = "/debug/pprof/allocs"
				}
				file := filepath.Join(p.dir, fmt.Sprintf("aftermath-%s-%s-%d.pb.gz", phase, kind, n))
				if err := p.fetch(ctx, fmt.Sprintf("%s?seconds=%d", path, int(chunk/time.Second)), file, chunk); err != nil {
					p.note(fmt.Sprintf("%s %s profile %d: %v", phase, kind, n, err))
					return
				}
				p.mu.Lock()
				p.files[phase+"-"+kind] = append(p.files[phase+"-"+kind], file)
				p.mu.Unlock()
			}
		})
	}
	return wg.Wait
}

func (p *profiler) note(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, s)
}

func (p *profiler) fetch(ctx context.Context, path, file string, d time.Duration) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	c := &http.Client{Timeout: d + 10*time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("GET %s: %s %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// top is `go tool pprof -top` of a phase's profiles of one kind, merged,
// cut to n entries; sample is e.g. "alloc_space" for allocations.
func (p *profiler) top(ctx context.Context, phase, kind, sample string, cum bool, n int) (out, command string) {
	p.mu.Lock()
	files := append([]string(nil), p.files[phase+"-"+kind]...)
	p.mu.Unlock()
	if len(files) == 0 {
		return "", ""
	}
	args := []string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", n)}
	if sample != "" {
		args = append(args, "-sample_index="+sample)
	}
	if cum {
		args = append(args, "-cum")
	}
	args = append(args, files...)
	command = "go " + strings.Join(args, " ")
	b, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof: %v\n%s", err, b), command
	}
	return string(b), command
}

// profileTops is what the report prints of the profiles: where ingest's
// CPU goes (flat and cumulative) and what allocates, at max rate.
func profileTops(ctx context.Context, p *profiler) []string {
	var out []string
	for _, q := range []struct {
		title, kind, sample string
		cum                 bool
	}{
		{"aftermath CPU at max rate, by function (flat)", "cpu", "", false},
		{"aftermath CPU at max rate, by function with callees (cum)", "cpu", "", true},
		{"aftermath allocations at max rate (alloc_space)", "allocs", "alloc_space", false},
	} {
		top, command := p.top(ctx, "max", q.kind, q.sample, q.cum, 25)
		if top == "" {
			continue
		}
		out = append(out, fmt.Sprintf("== %s ==\n$ %s\n%s", q.title, command, top))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errs {
		out = append(out, "profile: "+e+"\n")
	}
	return out
}
