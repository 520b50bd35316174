package rules

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// MaxFileBytes bounds a rules file; real ones are a few KiB. The YAML parser
// costs more than linear time on some inputs, so the bound is also a bound on
// the time and memory a reload can take.
const MaxFileBytes = 128 << 10

// Nesting bounds, checked with the (linear) lexer before parsing: the
// parser's cost grows quickly with depth.
const (
	maxFlowDepth    = 32  // [ and { inside each other
	maxBlockColumns = 200 // a block "-" or ":" further right than this is nesting, not rules
)

// maxNodes bounds the work of decoding, whatever aliases expand to.
const maxNodes = 100_000

// Problem is one thing wrong with a rules file, at a position.
type Problem struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
	Msg  string `json:"message"`
}

// String formats the problem as FILE:LINE:COL: message.
func (p Problem) String() string { return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Msg) }

// Error lists every problem found in a rules file.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

type pos struct{ line, col int }

// decoder turns a YAML AST into Rules, collecting every problem rather than
// stopping at the first, and remembering where each value was written so
// that validation can point at it.
type decoder struct {
	file     string
	problems []Problem
	at       map[string]pos  // path -> position of its value (or key, for a missing value)
	keyAt    map[string]pos  // path -> position of its key
	null     map[string]bool // path written with an empty value
	anchors  map[string]ast.Node
	failed   map[string]bool // path whose value was reported as undecodable
	literal  map[string]bool // path written as a block scalar (| or >)
	nodes    int
	fatal    bool // nothing was decoded: validating would only add noise
	alias    *pos // while decoding an alias's value: where the alias is
}

func newDecoder(file string) *decoder {
	return &decoder{
		file: file, at: map[string]pos{}, keyAt: map[string]pos{}, null: map[string]bool{},
		anchors: map[string]ast.Node{}, failed: map[string]bool{}, literal: map[string]bool{},
	}
}

func (d *decoder) add(p pos, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)})
}

// posOf is where a node is reported: inside an aliased value, at the alias,
// which is where that use of the value is written.
func (d *decoder) posOf(n ast.Node) pos {
	if d.alias != nil {
		return *d.alias
	}
	return posOf(n)
}

func posOf(n ast.Node) pos {
	if n == nil {
		return pos{1, 1}
	}
	if mv, ok := n.(*ast.MappingValueNode); ok && mv.Key != nil {
		n = mv.Key
	}
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 && !m.IsFlowStyle {
		n = m.Values[0].Key
	}
	t := n.GetToken()
	if t == nil || t.Position == nil {
		return pos{1, 1}
	}
	return pos{t.Position.Line, t.Position.Column}
}

// parse decodes src into r. It reports syntax errors, then every structural
// problem (unknown or duplicate keys, wrong types, bad scalar values).
func (d *decoder) parse(src []byte, r *Rules) {
	if len(src) > MaxFileBytes {
		d.add(pos{1, 1}, "the file is larger than %d KiB; a rules file is a few KiB", MaxFileBytes>>10)
		d.fatal = true
		return
	}
	if bytes.HasPrefix(src, []byte{0xfe, 0xff}) || bytes.HasPrefix(src, []byte{0xff, 0xfe}) {
		d.add(pos{1, 1}, "the file is UTF-16; save it as UTF-8")
		d.fatal = true
		return
	}
	src = bytes.TrimPrefix(src, []byte("\ufeff")) // a BOM is not content
	// goccy reads a quoted scalar folded over CRLF lines differently from
	// LF; line and column numbers are the same either way.
	src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	if !d.shallow(src) {
		d.fatal = true
		return
	}
	file, err := parser.ParseBytes(src, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		d.syntaxError(err)
		d.fatal = true
		return
	}
	var docs []*ast.DocumentNode
	for _, doc := range file.Docs {
		if doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		return // an empty file: the built-in rules
	}
	if len(docs) > 1 {
		d.add(d.posOf(docs[1].Body), "the file holds %d YAML documents (---); put all rules in one", len(docs))
	}
	body := docs[0].Body
	// Every anchor is known before decoding, including one under a key that
	// is itself reported (an "x-services: &svc [...]" helper, say).
	ast.Walk(anchorCollector(d.anchors), body)
	d.decode(body, reflect.ValueOf(r).Elem(), "")
}

// shallow reports a problem and returns false when src nests deeper than
// any rules file needs.
func (d *decoder) shallow(src []byte) bool {
	depth := 0
	for _, t := range lexer.Tokenize(string(src)) {
		switch t.Type {
		case token.SequenceStartType, token.MappingStartType:
			depth++
			if depth > maxFlowDepth {
				d.add(pos{t.Position.Line, t.Position.Column}, "brackets nested more than %d deep; a rules file needs a few levels", maxFlowDepth)
				return false
			}
		case token.SequenceEndType, token.MappingEndType:
			depth--
		case token.SequenceEntryType, token.MappingValueType:
			if t.Position.Column > maxBlockColumns {
				d.add(pos{t.Position.Line, t.Position.Column}, "nesting reaches column %d; a rules file needs a few levels of indentation", t.Position.Column)
				return false
			}
		}
	}
	return true
}

func (d *decoder) syntaxError(err error) {
	msg := err.Error()
	p := pos{1, 1}
	var ye yaml.Error
	if errors.As(err, &ye) {
		msg = ye.GetMessage()
		if t := ye.GetToken(); t != nil && t.Position != nil {
			p = pos{t.Position.Line, t.Position.Column}
		}
	}
	if strings.Contains(msg, "'\t'") {
		msg = "a tab character: YAML indentation must use spaces, not tabs"
	}
	d.add(p, "YAML syntax: %s", msg)
}

// anchorCollector records every anchor's value by name.
type anchorCollector map[string]ast.Node

func (a anchorCollector) Visit(n ast.Node) ast.Visitor {
	if x, ok := n.(*ast.AnchorNode); ok && x.Name != nil {
		if _, seen := a[x.Name.GetToken().Value]; !seen {
			a[x.Name.GetToken().Value] = x.Value
		}
	}
	return a
}

// resolve follows anchors, aliases and tags to the node holding the value.
func (d *decoder) resolve(n ast.Node) (ast.Node, bool) {
	for i := 0; i < 32; i++ {
		switch x := n.(type) {
		case *ast.AnchorNode:
			if x.Name != nil {
				d.anchors[x.Name.GetToken().Value] = x.Value
			}
			n = x.Value
		case *ast.AliasNode:
			name := ""
			if x.Value != nil {
				name = x.Value.GetToken().Value
			}
			target, ok := d.anchors[name]
			if !ok {
				d.add(d.posOf(x), "alias *%s refers to no anchor &%s in the file", name, name)
				return nil, false
			}
			n = target
		case *ast.TagNode:
			n = x.Value
		default:
			return n, true
		}
	}
	d.add(d.posOf(n), "too many nested anchors, aliases or tags")
	return nil, false
}

func (d *decoder) decode(n ast.Node, v reflect.Value, path string) {
	if d.overBudget(n) {
		return
	}
	if a, isAlias := n.(*ast.AliasNode); isAlias && d.alias == nil {
		at := posOf(a)
		d.alias = &at
		defer func() { d.alias = nil }()
	}
	n, ok := d.resolve(n)
	if !ok {
		d.failed[path] = true
		return
	}
	// A value reported here is not checked again by validate: one problem,
	// not a cascade.
	before := len(d.problems)
	defer func() {
		k := v.Kind()
		_, scalar := v.Addr().Interface().(scalarDecoder)
		if len(d.problems) > before && (scalar || k != reflect.Struct && k != reflect.Slice && k != reflect.Map) {
			d.failed[path] = true
		}
	}()
	if n == nil || n.Type() == ast.NullType {
		d.decodeNull(n, v, path)
		return
	}
	d.at[path] = d.posOf(n)

	if sd, ok := v.Addr().Interface().(scalarDecoder); ok {
		s, ok := d.scalarString(n, path, "a string")
		if ok {
			if err := sd.decodeScalar(s); err != nil {
				d.add(d.posOf(n), "%s: %v", display(path), err)
			}
		}
		return
	}

	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		if s, ok := d.scalarString(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		d.decodeBool(n, v, path)
	case reflect.Int:
		d.decodeInt(n, v, path)
	default:
		panic(fmt.Sprintf("rules: no decoding for %s at %s", v.Type(), path))
	}
}

// overBudget counts n against maxNodes and reports whether decoding must
// stop there; the first node over says why, once.
func (d *decoder) overBudget(n ast.Node) bool {
	d.nodes++
	if d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.add(d.posOf(n), "the file expands to more than %d values (aliases?); simplify it", maxNodes)
		}
		return true
	}
	return false
}

// decodeNull notes that path was written without a value (n is nil or a
// null), and where, and reports it when the field wants a value.
func (d *decoder) decodeNull(n ast.Node, v reflect.Value, path string) {
	d.null[path] = true
	if _, ok := d.at[path]; !ok || n != nil && n.GetToken() != nil && n.GetToken().Value != "" {
		d.at[path] = d.posOf(n)
	}
	if want := scalarWant(v); want != "" {
		d.add(d.at[path], "%s has no value: want %s", display(path), want)
	}
}

// decodeSlice decodes a YAML list into the slice v, item by item.
func (d *decoder) decodeSlice(n ast.Node, v reflect.Value, path string) {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.add(d.posOf(n), "%s: want a list, got %s", display(path), kindOf(n))
		d.failed[path] = true
		return
	}
	out := reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values))
	for i, item := range seq.Values {
		d.decode(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(out)
}

func (d *decoder) decodeBool(n ast.Node, v reflect.Value, path string) {
	b, ok := n.(*ast.BoolNode)
	if !ok {
		d.add(d.posOf(n), "%s: want true or false, got %s", display(path), kindOf(n))
		return
	}
	v.SetBool(b.Value)
}

// decodeInt decodes a whole number that fits in 32 bits, whatever the
// platform's int.
func (d *decoder) decodeInt(n ast.Node, v reflect.Value, path string) {
	i, ok := n.(*ast.IntegerNode)
	if !ok {
		d.add(d.posOf(n), "%s: want a whole number, got %s", display(path), kindOf(n))
		return
	}
	var x int64
	switch iv := i.Value.(type) {
	case int64:
		x = iv
	case uint64:
		if iv > math.MaxInt32 {
			d.add(d.posOf(n), "%s: %d is out of range", display(path), iv)
			return
		}
		x = int64(iv)
	}
	if x < math.MinInt32 || x > math.MaxInt32 {
		d.add(d.posOf(n), "%s: %d is out of range", display(path), x)
		return
	}
	v.SetInt(x)
}

// scalarWant describes the value a non-string scalar field wants, or "" for
// strings, lists, maps and sections, which may be written empty.
func scalarWant(v reflect.Value) string {
	switch v.Addr().Interface().(type) {
	case *Duration:
		return "a duration like 30m"
	case *Due:
		return `a deadline like "3 calendar days"`
	case *Date:
		return "a date like 2026-12-24"
	}
	switch v.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "a whole number"
	}
	return ""
}

// scalarString accepts only a YAML string (plain, quoted or block); a number
// or boolean where a string is wanted is reported with how to write it.
func (d *decoder) scalarString(n ast.Node, path, want string) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		d.literal[path] = true
		if x.Value == nil {
			return "", true
		}
		return x.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		raw := n.GetToken().Value
		d.add(d.posOf(n), "%s: want %s, got %s; quote it if you mean the text: \"%s\"", display(path), want, kindOf(n), raw)
	default:
		d.add(d.posOf(n), "%s: want %s, got %s", display(path), want, kindOf(n))
	}
	return "", false
}

// pairs returns a mapping's key/value pairs; goccy represents a one-pair
// block mapping as a bare MappingValueNode.
func pairs(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}, true
	}
	return nil, false
}

// keyOf returns a mapping key's text, reporting merge keys and non-scalar keys.
func (d *decoder) keyOf(kv *ast.MappingValueNode, path string) (string, bool) {
	if kv.Key == nil {
		d.add(d.posOf(kv), "%s: a key is missing", display(path))
		return "", false
	}
	if kv.Key.IsMergeKey() {
		d.add(d.posOf(kv.Key), "%s: merge keys (<<) are not supported; write the keys out", display(path))
		return "", false
	}
	k, ok := d.resolve(kv.Key)
	if !ok {
		return "", false
	}
	switch k.(type) {
	case *ast.StringNode, *ast.IntegerNode, *ast.BoolNode, *ast.FloatNode:
		return k.GetToken().Value, true
	}
	d.add(d.posOf(kv.Key), "%s: a key must be a plain name, got %s", display(path), kindOf(k))
	return "", false
}

// mapping calls each for every key of a mapping node, once: keys that are
// not plain names, and repeated keys, are reported and skipped. want names
// the expected value in the message when n is not a mapping.
func (d *decoder) mapping(n ast.Node, path, want string, each func(key string, kp pos, value ast.Node)) {
	kvs, ok := pairs(n)
	if !ok {
		d.add(d.posOf(n), "%s: want %s, got %s", display(path), want, kindOf(n))
		d.failed[path] = true
		return
	}
	seen := map[string]pos{}
	for _, kv := range kvs {
		key, ok := d.keyOf(kv, path)
		if !ok {
			continue
		}
		kp := d.posOf(kv.Key)
		if first, dup := seen[key]; dup {
			d.add(kp, "%s: duplicate key %q (first at line %d)", display(join(path, key)), key, first.line)
			continue
		}
		seen[key] = kp
		each(key, kp, kv.Value)
	}
}

func (d *decoder) decodeStruct(n ast.Node, v reflect.Value, path string) {
	fields := fieldsOf(v.Type())
	d.mapping(n, path, "a mapping of keys", func(key string, kp pos, value ast.Node) {
		idx, known := fields[key]
		if !known {
			d.add(kp, "%s", unknownKey(path, key, fields))
			return
		}
		child := join(path, key)
		d.keyAt[child], d.at[child] = kp, kp
		d.decode(value, v.Field(idx), child)
	})
}

func (d *decoder) decodeMap(n ast.Node, v reflect.Value, path string) {
	m := reflect.MakeMap(v.Type())
	d.mapping(n, path, "a mapping", func(key string, kp pos, value ast.Node) {
		child := path + "." + key
		d.keyAt[child], d.at[child] = kp, kp
		val := reflect.New(v.Type().Elem()).Elem()
		d.decode(value, val, child)
		m.SetMapIndex(reflect.ValueOf(key), val)
	})
	if !d.failed[path] {
		v.Set(m)
	}
}

// fieldsOf maps yaml key names to field indexes.
func fieldsOf(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tag := f.Tag.Get("yaml"); tag != "" && f.IsExported() {
			out[strings.Split(tag, ",")[0]] = i
		}
	}
	return out
}

func unknownKey(path, key string, fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	where := "at the top level"
	if path != "" {
		where = "in " + display(path)
	}
	msg := fmt.Sprintf("unknown key %q %s", key, where)
	if best := closest(key, names); best != "" {
		msg += fmt.Sprintf("; did you mean %q?", best)
	}
	return msg + " (known keys: " + strings.Join(names, ", ") + ")"
}

// closest returns the known name within edit distance 2 of key, if any.
// Words are also compared in the singular: "priority" is three edits from
// "priorities" but is the commonest way to miss it.
func closest(key string, names []string) string {
	key = strings.ToLower(key)
	best, bestD := "", 3
	for _, n := range names {
		if dist := min(editDistance(key, n), editDistance(singular(key), singular(n))); dist < bestD {
			best, bestD = n, dist
		}
	}
	return best
}

// singular strips an English plural ending from a key's last word: enough
// for the rules' keys (priorities, severities, services, holidays).
func singular(s string) string {
	switch {
	case strings.HasSuffix(s, "ies"):
		return strings.TrimSuffix(s, "ies") + "y"
	case strings.HasSuffix(s, "s") && !strings.HasSuffix(s, "ss"):
		return strings.TrimSuffix(s, "s")
	}
	return s
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func kindOf(n ast.Node) string {
	switch n.(type) {
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "true/false"
	case *ast.SequenceNode:
		return "a list"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.NullNode, nil:
		return "nothing"
	}
	return strings.ToLower(n.Type().String())
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// display names a path for people; the top level is "the file".
func display(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}
