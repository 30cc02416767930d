package manifest

import (
	"sort"
	"sync"
)

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

// An Option changes how Register treats a kind.
type Option func(*kindInfo)

// Implicit makes documents without a `kind` field that match belong to the
// kind. It lets files written for the AWS APIs load unchanged, e.g. a plain
// ECS task definition JSON is a TaskDefinition. Matchers of all kinds are
// tried in the order the kinds were registered; the first match wins.
func Implicit(match func(b *Body) bool) Option {
	return func(k *kindInfo) { k.implicit = match }
}

type kindInfo struct {
	name     string
	decode   DecodeFunc
	implicit func(b *Body) bool
}

var registry struct {
	sync.RWMutex
	kinds map[string]*kindInfo
	order []*kindInfo
}

// Register makes Load accept documents whose `kind` is kind, decoding them
// with decode. It is meant to be called from an init function of the package
// that owns the kind (this package registers TaskDefinition itself):
//
//	func init() { manifest.Register("Queue", decodeQueue) }
//
// Kinds are matched case-sensitively; a misspelt kind gets a did-you-mean.
// Register panics when kind is empty, decode is nil or the kind is already
// registered, like database/sql.Register.
func Register(kind string, decode DecodeFunc, opts ...Option) {
	if kind == "" || decode == nil {
		panic("manifest: Register needs a kind and a DecodeFunc")
	}
	k := &kindInfo{name: kind, decode: decode}
	for _, o := range opts {
		o(k)
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.kinds == nil {
		registry.kinds = map[string]*kindInfo{}
	}
	if _, dup := registry.kinds[kind]; dup {
		panic("manifest: Register called twice for kind " + kind)
	}
	registry.kinds[kind] = k
	registry.order = append(registry.order, k)
}

// Kinds returns the registered kinds, sorted.
func Kinds() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.kinds))
	for k := range registry.kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func lookupKind(kind string) *kindInfo {
	registry.RLock()
	defer registry.RUnlock()
	return registry.kinds[kind]
}

func implicitKind(b *Body) *kindInfo {
	registry.RLock()
	order := append([]*kindInfo(nil), registry.order...)
	registry.RUnlock()
	for _, k := range order {
		if k.implicit != nil && k.implicit(b) {
			return k
		}
	}
	return nil
}
