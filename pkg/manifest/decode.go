package manifest

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Schema tells Body.Decode what each JSON object accepts beyond the
// json-tagged fields of its Go struct type. A struct type missing from the
// schema accepts exactly its json-tagged fields.
type Schema map[reflect.Type]Object

// Object describes the extra fields of one JSON object type.
type Object struct {
	// Ignored fields belong to the AWS API's shape but Orch does not act on
	// them (e.g. executionRoleArn). They are accepted with any value, and
	// listed in Body.Ignored when their value is not empty (null, "", false,
	// [] or {}), since ignoring an empty value changes nothing.
	Ignored []string
	// ReadOnly fields are assigned by the server (e.g. revision, registeredAt)
	// and appear in what AWS returns. They are accepted and dropped silently,
	// even when the Go type has a field of that name.
	ReadOnly []string
}

func (o Object) has(list []string, name string) bool {
	for _, s := range list {
		if s == name {
			return true
		}
	}
	return false
}

// Limits that keep hostile input (alias bombs, huge files) cheap.
const (
	maxValuesPerFile     = 1 << 20 // shared by the documents of a file, which may share anchors
	maxErrorsPerDocument = 50
	maxMergeDepth        = 16
)

// Body is one document as handed to a DecodeFunc: its YAML mapping, plus
// what decoding learns (where each field is, which fields were ignored, what
// is wrong).
type Body struct {
	file string
	kind string
	node *yaml.Node // the document's mapping

	pos      map[string]position // field path → where to report it (see fieldPos)
	errs     []*Error
	errPaths []string // paths of errs, to drop validation errors that echo them
	ignored  []string

	budget    *int // values left to decode in this file
	exhausted bool
	active    map[*yaml.Node]bool // alias targets being decoded, to stop cycles
}

type position struct{ line, col int }

func posOf(n *yaml.Node) position { return position{n.Line, n.Column} }

func newBody(file string, n *yaml.Node, budget *int) *Body {
	return &Body{
		file:   file,
		node:   n,
		pos:    map[string]position{"": posOf(n)},
		budget: budget,
		active: map[*yaml.Node]bool{},
	}
}

// Kind is the document's kind (set before the DecodeFunc runs).
func (b *Body) Kind() string { return b.kind }

// File is the file the document came from ("<stdin>" for standard input).
func (b *Body) File() string { return b.file }

// Node is the document's YAML mapping, for decoders that need more than
// Decode offers. Do not modify it.
func (b *Body) Node() *yaml.Node { return b.node }

// Has reports whether the document has the top-level field name.
func (b *Body) Has(name string) bool { k, _ := b.field(name); return k != nil }

// Field returns the value of the top-level field name, aliases resolved, or
// nil when the document has no such field.
func (b *Body) Field(name string) *yaml.Node { _, v := b.field(name); return v }

func (b *Body) field(name string) (key, value *yaml.Node) {
	if b.node.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(b.node.Content); i += 2 {
		if k := b.node.Content[i]; k.Kind == yaml.ScalarNode && k.Value == name && k.ShortTag() != "!!merge" {
			return k, deref(b.node.Content[i+1])
		}
	}
	return nil, nil
}

// Ignored lists the paths (from the document root, in document order) of the
// fields that were accepted but are not used, e.g.
// "containerDefinitions[0].secrets".
func (b *Body) Ignored() []string { return append([]string(nil), b.ignored...) }

// Errorf records a problem at path (relative to the document root) as a
// decoding error: it is reported at the position of path, or of its nearest
// ancestor that the document has.
func (b *Body) Errorf(path, format string, args ...any) {
	p := b.lookup(path)
	b.addError(p, path, fmt.Sprintf(format, args...))
}

// Decode decodes the whole document (less its `kind` field) into v, a
// pointer to a struct, strictly: fields are matched case-sensitively against
// the json tags of v's types and s; unknown fields are errors with a
// did-you-mean hint; a value of the wrong type (a string where a number is
// expected, a single string where a list is expected, ...) is an error; null
// leaves the Go zero value (nil for pointers). String fields accept any
// scalar, so `value: 8080` reads as "8080". Types implementing
// encoding.TextUnmarshaler (e.g. time.Time) are read from strings, and
// interface fields take any value. YAML anchors, aliases and merge keys
// (<<) work.
//
// Problems are recorded in b (Load reports them with their positions) and
// returned as Errors; v holds whatever could be decoded.
func (b *Body) Decode(v any, s Schema) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic(fmt.Sprintf("manifest: Body.Decode needs a non-nil pointer, got %T", v))
	}
	n0 := len(b.errs)
	if b.node.Kind != yaml.MappingNode {
		b.fail(b.node, "", "a document must be a mapping of fields, got %s", describe(b.node))
	} else {
		b.decodeStruct(b.node, "", rv.Elem(), s, true)
	}
	if len(b.errs) > n0 {
		return Errors(append([]*Error(nil), b.errs[n0:]...))
	}
	return nil
}

func (b *Body) fail(n *yaml.Node, path, format string, args ...any) {
	b.addError(posOf(n), path, fmt.Sprintf(format, args...))
}

func (b *Body) addError(p position, path, msg string) {
	if len(b.errs) > maxErrorsPerDocument {
		return
	}
	e := &Error{File: b.file, Line: p.line, Column: p.col, Path: path, Message: msg}
	if len(b.errs) == maxErrorsPerDocument {
		e = &Error{File: b.file, Line: p.line, Column: p.col, Message: fmt.Sprintf("too many errors in this document (stopped after %d)", maxErrorsPerDocument)}
		b.exhausted = true // decoding further only finds more
	}
	b.errs = append(b.errs, e)
	b.errPaths = append(b.errPaths, path)
}

// lookup returns the position of path, or of its nearest ancestor known.
func (b *Body) lookup(path string) position {
	for {
		if p, ok := b.pos[path]; ok {
			return p
		}
		if path == "" {
			return posOf(b.node)
		}
		path = parentPath(path)
	}
}

// parentPath strips the last segment: "a.b[2]" → "a.b" → "a" → "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// within reports whether path p is pre or lies under it.
func within(p, pre string) bool {
	if pre == "" || p == pre {
		return true
	}
	return strings.HasPrefix(p, pre) && (p[len(pre)] == '.' || p[len(pre)] == '[')
}

// echoes reports whether a validation error at path is likely a consequence
// of a decoding error: it concerns the object holding a bad field, or one of
// that object's ancestors or descendants.
func (b *Body) echoes(path string) bool {
	for _, d := range b.errPaths {
		q := parentPath(d)
		if within(path, q) || within(q, path) {
			return true
		}
	}
	return false
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// mapPath names a map entry: labels.app, or options["awslogs-group"] when the
// key is not a plain identifier.
func mapPath(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			plain = false
			break
		}
	}
	if plain {
		return joinPath(path, key)
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// deref follows aliases to the node they name (nil for a dangling alias).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 64 {
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// isEmpty reports whether n is null, "", false, [] or {}.
func isEmpty(n *yaml.Node) bool {
	n = deref(n)
	if n == nil {
		return true
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return true
		case "!!str":
			return n.Value == ""
		case "!!bool":
			return n.Value == "false" || n.Value == "False" || n.Value == "FALSE"
		}
	case yaml.SequenceNode, yaml.MappingNode:
		return len(n.Content) == 0
	}
	return false
}

// describe names a node's value for messages: `the string "512"`.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", v)
		case "!!int", "!!float":
			return "the number " + v
		case "!!bool":
			return v
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("%q", v)
	}
	return "nothing"
}

// yamlDecode runs yaml.v3's own decoding of one scalar or value, turning a
// panic inside the YAML library into an error.
func yamlDecode(n *yaml.Node, out any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot decode value: %v", r)
		}
	}()
	return n.Decode(out)
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

func (b *Body) decodeValue(n *yaml.Node, path string, v reflect.Value, s Schema) {
	if b.exhausted {
		return
	}
	if *b.budget--; *b.budget < 0 {
		b.exhausted = true
		if *b.budget == -1 {
			b.fail(n, path, "file too large: more than %d values (check for aliases that expand without bound)", maxValuesPerFile)
		}
		return
	}
	if t := deref(n); t == nil {
		b.fail(n, path, "alias *%s names no anchor", n.Value)
		return
	} else if t.Anchor != "" {
		// Only anchored values can be reached twice; an alias to one that is
		// being decoded would recurse forever.
		if b.active[t] {
			b.fail(n, path, "alias *%s refers to a value that contains it", t.Anchor)
			return
		}
		b.active[t] = true
		defer delete(b.active, t)
		n = t
	} else {
		n = t
	}
	if isNull(n) {
		return
	}
	b.decodeInto(n, path, v, s)
}

func (b *Body) decodeInto(n *yaml.Node, path string, v reflect.Value, s Schema) {
	if v.Kind() != reflect.Pointer && v.CanAddr() && v.Addr().Type().Implements(textUnmarshalerType) {
		if n.Kind != yaml.ScalarNode {
			b.fail(n, path, "must be a string, got %s", describe(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			b.fail(n, path, "invalid value %q: %v", n.Value, err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		b.decodeInto(n, path, v.Elem(), s)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			b.fail(n, path, "must be a mapping of fields, got %s", describe(n))
			return
		}
		b.decodeStruct(n, path, v, s, false)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			hint := ""
			if n.Kind == yaml.ScalarNode {
				hint = `: write one item per line starting with "- ", or [a, b]`
			}
			b.fail(n, path, "must be a list, got %s%s", describe(n), hint)
			return
		}
		if len(n.Content) == 0 {
			v.Set(reflect.Zero(v.Type())) // [] and an absent field read the same
			return
		}
		sl := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, e := range n.Content {
			ep := path + "[" + strconv.Itoa(i) + "]"
			b.pos[ep] = posOf(e)
			b.decodeValue(e, ep, sl.Index(i), s)
		}
		v.Set(sl)
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			panic(fmt.Sprintf("manifest: cannot decode into %s: map keys must be strings", v.Type()))
		}
		if n.Kind != yaml.MappingNode {
			b.fail(n, path, "must be a mapping, got %s", describe(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for _, p := range b.pairs(n, path, 0) {
			kp := mapPath(path, p.key.Value)
			b.pos[kp] = fieldPos(p)
			elem := reflect.New(v.Type().Elem()).Elem()
			b.decodeValue(p.value, kp, elem, s)
			m.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(v.Type().Key()), elem)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			b.fail(n, path, "must be a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			b.fail(n, path, "must be true or false, got %s%s", describe(n), unquoteHint(n, "!!bool"))
			return
		}
		var x bool
		if err := yamlDecode(n, &x); err != nil {
			b.fail(n, path, "must be true or false, got %s", describe(n))
			return
		}
		v.SetBool(x)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var x int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || yamlDecode(n, &x) != nil {
			b.fail(n, path, "must be an integer, got %s%s", describe(n), unquoteHint(n, "!!int"))
			return
		}
		if v.OverflowInt(x) {
			b.fail(n, path, "%d is out of range", x)
			return
		}
		v.SetInt(x)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var x uint64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || yamlDecode(n, &x) != nil {
			b.fail(n, path, "must be a non-negative integer, got %s%s", describe(n), unquoteHint(n, "!!int"))
			return
		}
		if v.OverflowUint(x) {
			b.fail(n, path, "%d is out of range", x)
			return
		}
		v.SetUint(x)
	case reflect.Float32, reflect.Float64:
		var x float64
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") || yamlDecode(n, &x) != nil {
			b.fail(n, path, "must be a number, got %s%s", describe(n), unquoteHint(n, "!!float"))
			return
		}
		v.SetFloat(x)
	case reflect.Interface:
		if v.NumMethod() != 0 {
			panic(fmt.Sprintf("manifest: cannot decode into interface type %s", v.Type()))
		}
		var x any
		if err := yamlDecode(n, &x); err != nil {
			b.fail(n, path, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		panic(fmt.Sprintf("manifest: cannot decode into Go type %s", v.Type()))
	}
}

// unquoteHint suggests removing quotes around a string that would be valid
// unquoted ("512" for an integer, "true" for a boolean).
func unquoteHint(n *yaml.Node, want string) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return ""
	}
	v := strings.TrimSpace(n.Value)
	ok := false
	switch want {
	case "!!int":
		_, err := strconv.ParseInt(v, 10, 64)
		ok = err == nil
	case "!!float":
		_, err := strconv.ParseFloat(v, 64)
		ok = err == nil && v != "" && (v[0] >= '0' && v[0] <= '9' || v[0] == '-' || v[0] == '.')
	case "!!bool":
		ok = v == "true" || v == "false"
	}
	if ok {
		return "; remove the quotes"
	}
	return ""
}

type pair struct{ key, value *yaml.Node }

// fieldPos is where problems with a field's value are reported: at a scalar
// value itself, or at the key of a list or mapping (which in block style
// starts on the next line).
func fieldPos(p pair) position {
	if p.value.Kind == yaml.ScalarNode || p.value.Kind == yaml.AliasNode {
		return posOf(p.value)
	}
	return posOf(p.key)
}

// pairs lists a mapping's fields in order, resolving merge keys (<<: *base;
// explicit fields win over merged ones, earlier merges over later ones) and
// reporting duplicate and non-string keys.
func (b *Body) pairs(n *yaml.Node, path string, depth int) []pair {
	var out, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, b.mergePairs(val, path, depth+1)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			b.fail(k, path, "field names must be strings, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			b.fail(k, joinPath(path, k.Value), "duplicate field: already set on line %d; remove one", first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k, val})
	}
	for _, p := range merged {
		if _, dup := seen[p.key.Value]; !dup {
			seen[p.key.Value] = p.key
			out = append(out, p)
		}
	}
	return out
}

func (b *Body) mergePairs(n *yaml.Node, path string, depth int) []pair {
	if depth > maxMergeDepth {
		b.fail(n, path, "merge keys (<<) nested too deeply")
		return nil
	}
	t := deref(n)
	if t == nil {
		b.fail(n, path, "alias *%s names no anchor", n.Value)
		return nil
	}
	if b.active[t] {
		b.fail(n, path, "merge key (<<) refers to a mapping that contains it")
		return nil
	}
	b.active[t] = true
	defer delete(b.active, t)
	switch t.Kind {
	case yaml.MappingNode:
		return b.pairs(t, path, depth)
	case yaml.SequenceNode:
		var out []pair
		for _, e := range t.Content {
			if m := deref(e); m == nil || m.Kind != yaml.MappingNode {
				b.fail(e, path, "a merge key (<<) takes a mapping or a list of mappings, got %s", describe(e))
				continue
			}
			out = append(out, b.mergePairs(e, path, depth+1)...)
		}
		return out
	}
	b.fail(n, path, "a merge key (<<) takes a mapping or a list of mappings, got %s", describe(t))
	return nil
}

func (b *Body) decodeStruct(n *yaml.Node, path string, v reflect.Value, s Schema, root bool) {
	info := structInfoOf(v.Type())
	obj := s[v.Type()]
	for _, p := range b.pairs(n, path, 0) {
		name := p.key.Value
		if root && name == "kind" {
			continue
		}
		fpath := joinPath(path, name)
		if obj.has(obj.ReadOnly, name) {
			continue
		}
		if f, ok := info.fields[name]; ok {
			b.pos[fpath] = fieldPos(p)
			b.decodeValue(p.value, fpath, v.FieldByIndex(f), s)
			continue
		}
		if obj.has(obj.Ignored, name) {
			b.pos[fpath] = posOf(p.key)
			if !isEmpty(p.value) {
				b.ignored = append(b.ignored, fpath)
			}
			continue
		}
		known := append(append(append([]string(nil), info.names...), obj.Ignored...), obj.ReadOnly...)
		if hint := didYouMean(name, known); hint != "" {
			b.fail(p.key, fpath, "unknown field%s", hint)
			continue
		}
		listed := append(append([]string(nil), info.names...), obj.Ignored...)
		listed = slicesWithout(listed, obj.ReadOnly)
		sort.Strings(listed)
		b.fail(p.key, fpath, "unknown field; known fields are: %s", strings.Join(listed, ", "))
	}
}

func slicesWithout(list, drop []string) []string {
	out := list[:0]
	for _, s := range list {
		keep := true
		for _, d := range drop {
			if s == d {
				keep = false
			}
		}
		if keep {
			out = append(out, s)
		}
	}
	return out
}

// structInfo is the json-tagged fields of a struct type.
type structInfo struct {
	fields map[string][]int // json name → field index path
	names  []string         // json names in declaration order
}

var structCache sync.Map // reflect.Type → *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if si, ok := structCache.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{fields: map[string][]int{}}
	collectFields(t, nil, si)
	structCache.Store(t, si)
	return si
}

// collectFields follows encoding/json's naming: the json tag's name, else the
// Go field name; "-" skips; untagged embedded structs are flattened (the
// shallower field wins).
func collectFields(t reflect.Type, index []int, si *structInfo) {
	var embedded []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			embedded = append(embedded, f)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := si.fields[name]; dup {
			continue
		}
		si.fields[name] = append(append([]int(nil), index...), i)
		si.names = append(si.names, name)
	}
	for _, f := range embedded {
		collectFields(f.Type, append(append([]int(nil), index...), f.Index...), si)
	}
}
