package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/function"
	"github.com/orch-project/orch/pkg/model"
)

func strict(spec json.RawMessage, v any, kind string) error {
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &model.FieldError{Message: kind + ": " + err.Error()}
	}
	return nil
}

// FunctionApplier applies `kind: Function` documents (api.Applier).
type FunctionApplier struct{ Functions *function.Service }

// Decode parses and validates a Function document.
func (a FunctionApplier) Decode(spec json.RawMessage) (any, error) {
	var f model.Function
	if err := strict(spec, &f, "Function"); err != nil {
		return nil, err
	}
	f.Normalize()
	return &f, f.Validate()
}

// Apply creates the function or replaces its configuration.
func (a FunctionApplier) Apply(ctx context.Context, obj any) (wire.ApplyResult, error) {
	f := obj.(*model.Function)
	_, action, err := a.Functions.Apply(ctx, *f)
	return wire.ApplyResult{Kind: "Function", Name: f.FunctionName, Action: action}, err
}

// MappingApplier applies `kind: EventSourceMapping` documents.
type MappingApplier struct{ Functions *function.Service }

// Decode parses and validates an EventSourceMapping document.
func (a MappingApplier) Decode(spec json.RawMessage) (any, error) {
	var m model.EventSourceMapping
	if err := strict(spec, &m, "EventSourceMapping"); err != nil {
		return nil, err
	}
	m.Normalize()
	return &m, m.Validate()
}

// Apply creates the mapping, or updates the one joining the same queue
// and function.
func (a MappingApplier) Apply(ctx context.Context, obj any) (wire.ApplyResult, error) {
	m := obj.(*model.EventSourceMapping)
	sm, action, err := a.Functions.ApplyMapping(ctx, *m)
	res := wire.ApplyResult{Kind: "EventSourceMapping", Name: m.FunctionName + "<-" + m.EventSourceArn[strings.LastIndexByte(m.EventSourceArn, ':')+1:], Action: action}
	if sm != nil {
		res.Ref = sm.UUID
	}
	return res, err
}
