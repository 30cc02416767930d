package manifest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/orch-project/orch/pkg/model"
)

// ErrNoDocuments is returned (inside Errors) when the input holds no document.
var ErrNoDocuments = errors.New("manifest: no documents")

// Error is one problem in a manifest. Its text is
//
//	FILE:LINE:COL: FIELD.PATH: message
//
// with LINE and COL left out when unknown (a file that cannot be read; YAML
// syntax errors carry a line but no column) and FIELD.PATH left out when the
// problem is not about one field.
type Error struct {
	File    string
	Line    int    // 1-based; 0 when unknown
	Column  int    // 1-based; 0 when unknown
	Path    string // e.g. "containerDefinitions[1].memory"; empty when not about a field
	Message string
	// Err is the underlying cause when there is one (e.g. an *fs.PathError).
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Unwrap returns the underlying cause, or model.ErrInvalid for problems in
// the manifest's content, so errors.Is(err, model.ErrInvalid) holds.
func (e *Error) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	return model.ErrInvalid
}

// Errors is every problem Load found, in file order; its text has one error
// per line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As see each error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}
