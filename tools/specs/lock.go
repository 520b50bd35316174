package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Lock is testdata/specs.lock: every file the tests read from the specs
// folder, pinned to an upstream commit and a sha256, and the tests allowed
// to skip.
type Lock struct {
	About        string        `json:"about"`
	Files        []File        `json:"files"`
	SpecSkips    []Skip        `json:"spec_skips"`
	ProgramSkips []ProgramSkip `json:"program_skips"`
}

// File is one file of the specs folder.
type File struct {
	// Path is the file's place in the specs folder, slash-separated.
	Path   string `json:"path"`
	Source Source `json:"source"`
	// URL is what fetch downloads: the source at its pinned commit.
	URL string `json:"url"`
	// Extract, when set, cuts the file out of the downloaded source.
	Extract *Extract `json:"extract,omitempty"`
	// SourceSize is the size of the whole downloaded source when the file
	// is extracted from it: the download is refused beyond it.
	SourceSize int64 `json:"source_size,omitempty"`
	// Size and SHA256 are those of the file itself (the extracted bytes).
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Note   string `json:"note,omitempty"`
}

// Source says where a file officially comes from: a repository, commit and
// path, and, when the repository holds a copy of a document published
// elsewhere, the publisher's address (Origin).
type Source struct {
	Repo   string `json:"repo,omitempty"`
	Ref    string `json:"ref,omitempty"`
	Commit string `json:"commit,omitempty"`
	Path   string `json:"path,omitempty"`
	Origin string `json:"origin,omitempty"`
}

// Extract names the bytes between the first From after the (unique) After
// marker and the next To.
type Extract struct {
	After string `json:"after"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// Skip is a test whose whole subject is a spec file: it may skip when the
// specs folder is absent.
type Skip struct {
	Package string `json:"package"`
	Test    string `json:"test"`
}

// ProgramSkip is a test that may skip when Program is not installed, except
// under CI=true.
type ProgramSkip struct {
	Package string `json:"package"`
	Test    string `json:"test"`
	Program string `json:"program"`
}

// loadLock reads and checks a lock file.
func loadLock(file string) (*Lock, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read lock: %w", err)
	}
	l, err := parseLock(b)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", file, err)
	}
	return l, nil
}

// parseLock decodes a lock strictly (unknown fields are errors) and checks
// it, reporting every problem at once.
func parseLock(b []byte) (*Lock, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var l Lock
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode: more than one JSON value")
	}
	if err := l.check(); err != nil {
		return nil, err
	}
	return &l, nil
}

func (l *Lock) check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(l.Files) == 0 {
		bad("no files")
	}
	seen := map[string]bool{}
	for i, f := range l.Files {
		name := f.Path
		if name == "" {
			name = fmt.Sprintf("files[%d]", i)
		}
		if err := checkRelPath(f.Path); err != nil {
			bad("%s: path: %w", name, err)
		}
		if seen[f.Path] {
			bad("%s: listed twice", name)
		}
		seen[f.Path] = true
		if u, err := url.Parse(f.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("%s: url %q is not an http(s) address", name, f.URL)
		}
		if (f.Source.Repo == "" || f.Source.Commit == "" || f.Source.Path == "") && f.Source.Origin == "" {
			bad("%s: source needs repo, commit and path, or origin", name)
		}
		if f.Size <= 0 {
			bad("%s: size must be positive", name)
		}
		if s, err := hex.DecodeString(f.SHA256); err != nil || len(s) != 32 || strings.ToLower(f.SHA256) != f.SHA256 {
			bad("%s: sha256 %q is not 64 lower-case hex digits", name, f.SHA256)
		}
		switch {
		case f.Extract != nil && (f.Extract.After == "" || f.Extract.From == "" || f.Extract.To == ""):
			bad("%s: extract needs after, from and to", name)
		case f.Extract != nil && f.SourceSize <= 0:
			bad("%s: extract needs source_size (the size of the whole source)", name)
		case f.Extract == nil && f.SourceSize != 0:
			bad("%s: source_size is only for extracted files", name)
		}
	}
	tests := map[string]bool{}
	checkTest := func(kind string, i int, pkg, test string) {
		switch {
		case pkg == "" || test == "":
			bad("%s[%d]: package and test are required", kind, i)
		case strings.Contains(test, "/"):
			bad("%s[%d]: %s: name the top-level test (its subtests are allowed with it)", kind, i, test)
		case tests[pkg+" "+test]:
			bad("%s[%d]: %s %s listed twice", kind, i, pkg, test)
		}
		tests[pkg+" "+test] = true
	}
	for i, s := range l.SpecSkips {
		checkTest("spec_skips", i, s.Package, s.Test)
	}
	for i, s := range l.ProgramSkips {
		checkTest("program_skips", i, s.Package, s.Test)
		if s.Program == "" {
			bad("program_skips[%d]: program is required", i)
		}
	}
	return errors.Join(errs...)
}

// checkRelPath accepts a clean, relative, slash-separated path that stays
// inside the specs folder.
func checkRelPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty")
	case strings.Contains(p, `\`):
		return errors.New("use forward slashes")
	case path.IsAbs(p) || filepath.IsAbs(p) || filepath.VolumeName(p) != "":
		return errors.New("must be relative to the specs folder")
	case path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../"):
		return errors.New("must be a clean path inside the specs folder")
	}
	return nil
}

// encode is the lock's canonical form: what -update writes, so a rewrite
// changes only the lines whose values changed.
func (l *Lock) encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(l); err != nil {
		return nil, fmt.Errorf("encode lock: %w", err)
	}
	return buf.Bytes(), nil
}

// save writes the lock atomically.
func (l *Lock) save(file string) error {
	b, err := l.encode()
	if err != nil {
		return err
	}
	return writeAtomic(file, b)
}

// downloadCap is the most fetch reads from a URL: the largest of the sizes
// the lock pins for it (a whole file's size, or the source_size of the
// files extracted from it).
func (l *Lock) downloadCap(u string) int64 {
	var max int64
	for _, f := range l.Files {
		if f.URL != u {
			continue
		}
		n := f.Size
		if f.Extract != nil {
			n = f.SourceSize
		}
		if n > max {
			max = n
		}
	}
	return max
}
