package manifest

import (
	"reflect"

	"github.com/orch-project/orch/pkg/model"
)

// The functions' kinds: the shapes of Lambda's CreateFunction and
// CreateEventSourceMapping (AWS field names).
const (
	KindFunction           = "Function"
	KindEventSourceMapping = "EventSourceMapping"
)

// FunctionKind reads functions (pkg/function serves them; pkg/api/lambda
// applies them).
var FunctionKind = Kind{Name: KindFunction, Decode: decodeFunction}

// EventSourceMappingKind reads event source mappings (a queue triggering a
// function).
var EventSourceMappingKind = Kind{Name: KindEventSourceMapping, Decode: decodeMapping}

var functionSchema = Schema{
	reflect.TypeFor[model.Function](): {
		// Accepted for files written for Lambda; Orch runs images and
		// has no versions, VPCs or layers.
		Ignored: []string{"Publish", "Architectures", "ImageConfig", "TracingConfig", "VpcConfig", "EphemeralStorage", "LoggingConfig"},
	},
	reflect.TypeFor[model.EventSourceMapping](): {ReadOnly: []string{"UUID"}},
}

func decodeFunction(b *Body) (any, string, error) {
	f := new(model.Function)
	if err := b.Decode(f, functionSchema); err != nil {
		return nil, f.FunctionName, err
	}
	f.Normalize()
	return f, f.FunctionName, f.Validate()
}

func decodeMapping(b *Body) (any, string, error) {
	m := new(model.EventSourceMapping)
	if err := b.Decode(m, functionSchema); err != nil {
		return nil, m.FunctionName, err
	}
	m.Normalize()
	return m, m.FunctionName + "<-" + m.EventSourceArn, m.Validate()
}
