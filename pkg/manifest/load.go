package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/orch-project/orch/pkg/model"
)

// Document is one decoded manifest document.
type Document struct {
	Kind string // "TaskDefinition", ...
	Name string // the object's name: the family of a task definition, ...
	File string // the file it came from; "<stdin>" for standard input
	// Line and Column (1-based) are where the document's mapping starts.
	Line, Column int
	// Object is the decoded value, a pointer: *model.TaskDefinition for kind
	// TaskDefinition.
	Object any
	// Ignored lists the paths, from the document root, of fields that were
	// accepted but that Orch does not act on (e.g. "executionRoleArn",
	// "containerDefinitions[0].secrets"), in document order. Callers show them
	// as warnings.
	Ignored []string
}

// TaskDefinition returns the document's task definition, or nil when the
// document is of another kind.
func (d *Document) TaskDefinition() *model.TaskDefinition {
	td, _ := d.Object.(*model.TaskDefinition)
	return td
}

// String is "TaskDefinition web (web.yaml:3)".
func (d *Document) String() string {
	return fmt.Sprintf("%s %s (%s:%d)", d.Kind, d.Name, d.File, d.Line)
}

// StdinName is how standard input is named in documents and errors.
const StdinName = "<stdin>"

// maxErrors bounds what one Load reports.
const maxErrors = 200

// Load reads manifests from path: a file, a directory (every *.yaml, *.yml
// and *.json file directly in it, in name order; subdirectories are not
// read) or "-" for stdin. A file may hold many YAML documents separated by
// "---"; a JSON file holds one object or an array of objects (each one a
// document), and so may a YAML document.
//
// Load is all or nothing: it returns every document, or nil and an Errors
// listing every problem in every file (syntax, unknown fields, wrong types,
// validation), each as FILE:LINE:COL: FIELD.PATH: message. Callers must apply
// nothing when Load fails. Input without any document is an error too
// (errors.Is(err, ErrNoDocuments)).
func (d *Decoder) Load(path string, stdin io.Reader) ([]Document, error) {
	return d.LoadAll([]string{path}, stdin)
}

// LoadAll is Load over several paths (what `orch apply -f a -f b` names),
// each a file, a directory or "-": their documents in the order given, and
// within a directory in name order. It is all or nothing across every path,
// like Load, and reports the problems of every path at once. Standard input
// can be named only once, since it can be read only once.
func (d *Decoder) LoadAll(paths []string, stdin io.Reader) ([]Document, error) {
	c := collector{dec: d}
	if len(paths) == 0 {
		return nil, Errors{{File: "(no path)", Message: "no manifest named: give a file, a directory, or - for stdin", Err: ErrNoDocuments}}
	}
	stdinRead := false
	for _, path := range paths {
		switch {
		case path == "":
			c.add(&Error{File: "\"\"", Message: "empty path: give a file, a directory, or - for stdin"})
		case path == "-" && stdinRead:
			c.add(&Error{File: StdinName, Message: "- (standard input) is named more than once; it can be read only once"})
		case path == "-":
			stdinRead = true
			if stdin == nil {
				c.add(&Error{File: StdinName, Message: "no standard input to read"})
				continue
			}
			data, err := io.ReadAll(stdin)
			if err != nil {
				c.add(&Error{File: StdinName, Message: "cannot read: " + err.Error(), Err: err})
				continue
			}
			c.parse(StdinName, data)
		default:
			c.loadPath(path)
		}
	}
	name := paths[0]
	if len(paths) > 1 {
		name = strings.Join(paths, ", ")
	}
	return c.result(name)
}

// loadPath reads one file, or every manifest file directly in a directory.
func (c *collector) loadPath(path string) {
	fi, err := os.Stat(path)
	if err != nil {
		c.add(ioError(path, err))
		return
	}
	files := []string{path}
	if fi.IsDir() {
		if files, err = manifestFiles(path); err != nil {
			c.add(ioError(path, err))
			return
		}
		if len(files) == 0 {
			c.add(&Error{File: path, Message: "no *.yaml, *.yml or *.json files in this directory", Err: ErrNoDocuments})
			return
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			c.add(ioError(f, err))
			continue
		}
		c.parse(f, data)
	}
}

// Parse decodes manifests held in memory; file names them in documents and
// errors. It behaves like Load on a file.
func (d *Decoder) Parse(file string, data []byte) ([]Document, error) {
	c := collector{dec: d}
	c.parse(file, data)
	return c.result(file)
}

func ioError(path string, err error) *Error {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Err.Error()
	}
	return &Error{File: path, Message: "cannot read: " + msg, Err: err}
}

func manifestFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
		default:
			continue
		}
		if e.IsDir() {
			continue
		}
		files = append(files, filepath.Join(dir, e.Name()))
	}
	return files, nil
}

type collector struct {
	dec    *Decoder
	docs   []Document
	errs   Errors
	budget int // values left to decode in the current file
}

func (c *collector) add(es ...*Error) {
	for _, e := range es {
		switch {
		case len(c.errs) < maxErrors:
			c.errs = append(c.errs, e)
		case len(c.errs) == maxErrors:
			c.errs = append(c.errs, &Error{File: e.File, Message: fmt.Sprintf("too many errors (stopped after %d)", maxErrors)})
		}
	}
}

func (c *collector) result(name string) ([]Document, error) {
	if len(c.errs) == 0 && len(c.docs) == 0 {
		c.errs = Errors{{File: name, Message: "no documents: expected YAML or JSON objects with a kind (e.g. kind: TaskDefinition)", Err: ErrNoDocuments}}
	}
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	return c.docs, nil
}

// parse decodes every document of one file.
func (c *collector) parse(file string, data []byte) {
	if file == "" {
		file = "<input>"
	}
	var errs []*Error
	c.budget = maxValuesPerFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := decodeNode(dec, &doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, syntaxError(file, data, err))
			break
		}
		if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
			continue
		}
		root := deref(doc.Content[0])
		switch {
		case root == nil || isNull(root):
			continue // an empty document ("---" alone, or only comments)
		case root.Kind == yaml.MappingNode:
			errs = append(errs, c.document(file, root)...)
		case root.Kind == yaml.SequenceNode:
			for _, e := range root.Content {
				m := deref(e)
				if m == nil || m.Kind != yaml.MappingNode {
					errs = append(errs, &Error{File: file, Line: e.Line, Column: e.Column,
						Message: fmt.Sprintf("a list of documents must hold mappings, got %s", describe(e))})
					continue
				}
				errs = append(errs, c.document(file, m)...)
			}
		default:
			errs = append(errs, &Error{File: file, Line: root.Line, Column: root.Column,
				Message: fmt.Sprintf("a document must be a mapping with a kind (e.g. kind: TaskDefinition), got %s", describe(root))})
		}
	}
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Line != errs[j].Line {
			return errs[i].Line < errs[j].Line
		}
		return errs[i].Column < errs[j].Column
	})
	c.add(dedupe(errs)...)
}

// decodeNode reads the next YAML document, turning a panic inside the YAML
// library into an error.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return dec.Decode(n)
}

func dedupe(errs []*Error) []*Error {
	type key struct {
		line, col int
		path, msg string
	}
	seen := map[key]bool{}
	out := errs[:0]
	for _, e := range errs {
		k := key{e.Line, e.Column, e.Path, e.Message}
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

// document decodes one document (a mapping) and records it or its errors.
func (c *collector) document(file string, n *yaml.Node) []*Error {
	if c.budget < 0 {
		return nil // the file is over its budget; that was reported once
	}
	b := newBody(file, n, &c.budget)
	var k *Kind
	if key, val := b.field("kind"); key != nil {
		b.pos["kind"] = posOf(key)
		kinds := c.dec.Kinds()
		switch {
		case val == nil || val.Kind != yaml.ScalarNode || val.ShortTag() != "!!str" || val.Value == "":
			b.fail(key, "kind", "must name a kind, one of: %s", strings.Join(kinds, ", "))
		default:
			if k = c.dec.lookup(val.Value); k == nil {
				hint := didYouMean(val.Value, kinds)
				if hint == "" {
					hint = "; known kinds are: " + strings.Join(kinds, ", ")
				}
				b.fail(key, "kind", "unknown kind %q%s", val.Value, hint)
			}
		}
	} else if k = c.dec.implicit(b); k == nil {
		b.fail(n, "", "missing kind: add a kind field, one of: %s (a document without kind is read as an ECS task definition when it has family and containerDefinitions)", strings.Join(c.dec.Kinds(), ", "))
	}
	if k == nil {
		return b.errs
	}
	b.kind = k.Name
	obj, name, err := k.Decode(b)
	if c.budget < 0 {
		return b.errs // the object is incomplete: validating it would only add noise
	}
	errs := b.collect(err)
	if len(errs) > 0 {
		return errs
	}
	c.docs = append(c.docs, Document{
		Kind: k.Name, Name: name, File: file, Line: n.Line, Column: n.Column,
		Object: obj, Ignored: b.Ignored(),
	})
	return nil
}

// collect merges the decoding errors recorded in b with the error a
// DecodeFunc returned, giving validation errors their positions.
func (b *Body) collect(err error) []*Error {
	out := append([]*Error(nil), b.errs...)
	if err == nil {
		return out
	}
	recorded := map[*Error]bool{}
	for _, e := range b.errs {
		recorded[e] = true
	}
	field := func(fe *model.FieldError) {
		if b.echoes(fe.Path) {
			return
		}
		p := b.lookup(fe.Path)
		out = append(out, &Error{File: b.file, Line: p.line, Column: p.col, Path: fe.Path, Message: fe.Message})
	}
	var fes model.FieldErrors
	var fe *model.FieldError
	var es Errors
	var e *Error
	switch {
	case errors.As(err, &fes):
		for _, fe := range fes {
			field(fe)
		}
	case errors.As(err, &fe):
		field(fe)
	case errors.As(err, &es):
		for _, e := range es {
			if !recorded[e] {
				out = append(out, e)
			}
		}
	case errors.As(err, &e):
		if !recorded[e] {
			out = append(out, e)
		}
	default:
		p := posOf(b.node)
		out = append(out, &Error{File: b.file, Line: p.line, Column: p.col, Message: err.Error(), Err: err})
	}
	return out
}

var (
	yamlLineRE      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// isParserProblem reports whether msg comes from yaml.v3's parser (rather
// than its scanner or reader): these are the problems parserc.go sets.
func isParserProblem(msg string) bool {
	for _, p := range []string{
		"did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"did not find expected '-' indicator", "did not find expected <document start>",
		"did not find expected <stream-start>", "did not find expected key",
		"did not find expected node content", "found duplicate %TAG directive",
		"found duplicate %YAML directive", "found incompatible YAML document",
		"found undefined tag handle",
	} {
		if msg == p {
			return true
		}
	}
	return false
}

// badCharOffset finds the first byte YAML does not allow: invalid UTF-8 or a
// control character other than tab, line feed and carriage return.
func badCharOffset(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1,
			r < 0x20 && r != '\t' && r != '\n' && r != '\r',
			r >= 0x7f && r <= 0x9f && r != 0x85,
			r == 0xfffe || r == 0xffff:
			return i
		}
		i += size
	}
	return -1
}

// syntaxError turns a YAML parser error into an Error. yaml.v3 reports a line
// but no column; for input that looks like JSON, encoding/json's error gives
// both and a clearer message, so it is used when it finds a problem too.
func syntaxError(file string, data []byte, err error) *Error {
	e := &Error{File: file}
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	// yaml.v3 counts lines from 0 for parser errors and from 1 for scanner
	// errors, and leaves the line out when it is the first one.
	switch {
	case isParserProblem(msg):
		e.Line++
	case e.Line > 0:
	case unknownAnchorRE.MatchString(msg):
		name := unknownAnchorRE.FindStringSubmatch(msg)[1]
		if i := bytes.Index(data, []byte("*"+name)); i >= 0 {
			e.Line, e.Column = lineCol(data, i)
		}
	case strings.Contains(msg, "UTF-8") || strings.Contains(msg, "control characters") || strings.Contains(msg, "Unicode"):
		if i := badCharOffset(data); i >= 0 {
			e.Line, e.Column = lineCol(data, i)
		}
	default:
		e.Line = 1
	}
	e.Message = "invalid YAML: " + msg
	if strings.Contains(msg, "tab character") {
		// yaml.v3 reports the line before the tab; point at the tab itself.
		if line, col, ok := findIndentTab(data, e.Line); ok {
			e.Line, e.Column = line, col
		}
	}
	if looksLikeJSON(data) {
		if line, col, jmsg, ok := jsonSyntaxError(data); ok {
			e.Line, e.Column, e.Message = line, col, "invalid JSON: "+jmsg
		}
	}
	return e
}

var bom = []byte("\xef\xbb\xbf")

func looksLikeJSON(data []byte) bool {
	t := bytes.TrimLeft(bytes.TrimPrefix(data, bom), " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// jsonSyntaxError finds the first JSON syntax error in data, if any, and its
// line and column.
func jsonSyntaxError(data []byte) (line, col int, msg string, ok bool) {
	clean := data
	if bytes.HasPrefix(data, bom) {
		clean = append([]byte("   "), data[len(bom):]...) // keep offsets
	}
	dec := json.NewDecoder(bytes.NewReader(clean))
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return 0, 0, "", false
		}
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			off := int(se.Offset) - 1 // the offending byte
			if off < 0 {
				off = 0
			}
			line, col = lineCol(data, off)
			return line, col, se.Error(), true
		case errors.Is(err, io.ErrUnexpectedEOF):
			line, col = lineCol(data, len(data))
			return line, col, "unexpected end of input: a bracket or quote is not closed", true
		case err != nil:
			return 0, 0, "", false
		}
	}
}

// lineCol converts a byte offset into a 1-based line and column (in runes).
func lineCol(data []byte, off int) (line, col int) {
	if off > len(data) {
		off = len(data)
	}
	before := data[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	col = 1 + len([]rune(string(before[lineStart:])))
	return line, col
}

// findIndentTab finds the first tab in the indentation of a line at or after
// line from.
func findIndentTab(data []byte, from int) (line, col int, ok bool) {
	for i, l := range bytes.Split(data, []byte("\n")) {
		if i+1 < from {
			continue
		}
		for j, c := range l {
			if c == '\t' {
				return i + 1, j + 1, true
			}
			if c != ' ' {
				break
			}
		}
	}
	return 0, 0, false
}
