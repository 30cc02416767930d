package manifest

import "fmt"

// A DecodeFunc turns the body of one document into an object of its kind.
//
// It usually calls b.Decode with a pointer to a fresh model value and a
// Schema, then normalises and validates the value. It returns the object
// (a pointer, e.g. *model.TaskDefinition), the document's name (shown in
// messages and tables: the family, service name, queue name, ...) and an
// error, which may be:
//
//   - nil;
//   - model.FieldErrors or *model.FieldError, whose paths are relative to the
//     document root ("containerDefinitions[1].memory"): Load turns each path
//     into the file:line:column of that field, or of its nearest ancestor
//     present in the document;
//   - the error b.Decode returned: its problems are already recorded in b,
//     so returning it again is harmless;
//   - any other error, reported at the document's position.
//
// Problems b.Decode finds (syntax-level: unknown fields, type mismatches) are
// recorded in b whatever the DecodeFunc returns. Validation errors about
// fields near a decoding error are dropped, since they are usually its echo
// (a misspelt "memroy" also leaves "memory" unset).
type DecodeFunc func(b *Body) (obj any, name string, err error)

// A Kind describes one kind of document: the value of its `kind` field and
// how to decode it. The package owning a kind exports its Kind (this package
// exports TaskDefinitionKind, ServiceKind and QueueKind)
// and each binary lists the kinds it reads in NewDecoder.
type Kind struct {
	// Name is the value of the `kind` field, matched case-sensitively.
	Name   string
	Decode DecodeFunc
	// Implicit, when set, claims documents without a `kind` field that it
	// matches. It lets files written for the AWS APIs load unchanged, e.g. a
	// plain ECS task definition JSON is a TaskDefinition.
	Implicit func(b *Body) bool
}

// A Decoder reads manifests holding documents of the kinds it was built
// with. It is immutable and safe for concurrent use.
type Decoder struct {
	kinds  []Kind
	byName map[string]*Kind
}

// NewDecoder returns a decoder for kinds. Their order is the order
// Implicit matchers are tried in (the first match wins) and the order error
// messages list kind names in.
//
// NewDecoder panics when a kind has no name or no DecodeFunc, or when two
// kinds share a name: the list is written in code, so these are bugs.
func NewDecoder(kinds ...Kind) *Decoder {
	d := &Decoder{kinds: append([]Kind(nil), kinds...), byName: make(map[string]*Kind, len(kinds))}
	for i := range d.kinds {
		k := &d.kinds[i]
		if k.Name == "" || k.Decode == nil {
			panic(fmt.Sprintf("manifest: kind %d (%q) needs a Name and a Decode function", i, k.Name))
		}
		if _, dup := d.byName[k.Name]; dup {
			panic("manifest: kind " + k.Name + " is listed twice")
		}
		d.byName[k.Name] = k
	}
	return d
}

// Kinds returns the names of the decoder's kinds, in the order given to
// NewDecoder.
func (d *Decoder) Kinds() []string {
	out := make([]string, len(d.kinds))
	for i, k := range d.kinds {
		out[i] = k.Name
	}
	return out
}

func (d *Decoder) lookup(name string) *Kind { return d.byName[name] }

// implicit returns the first kind whose Implicit matcher claims b.
func (d *Decoder) implicit(b *Body) *Kind {
	for i := range d.kinds {
		if k := &d.kinds[i]; k.Implicit != nil && k.Implicit(b) {
			return k
		}
	}
	return nil
}
