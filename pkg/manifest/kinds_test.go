package manifest

import (
	"reflect"
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

// widget is a stand-in for kinds other packages own (Queue, ...).
type widget struct {
	WidgetName string            `json:"widgetName"`
	Size       int               `json:"size"`
	Labels     map[string]string `json:"labels,omitempty"`
}

var widgetSchema = Schema{
	reflect.TypeFor[widget](): {Ignored: []string{"color"}, ReadOnly: []string{"widgetArn"}},
}

var widgetKind = Kind{
	Name: "Widget",
	Decode: func(b *Body) (any, string, error) {
		w := new(widget)
		_ = b.Decode(w, widgetSchema)
		var errs model.FieldErrors
		if w.Size < 1 {
			errs.Add("size", "must be at least 1")
		}
		return w, w.WidgetName, errs.Err()
	},
	Implicit: func(b *Body) bool { return b.Has("widgetName") },
}

// testDecoder reads the kinds this package owns and the widget, the way a
// binary lists its kinds.
var testDecoder = NewDecoder(TaskDefinitionKind, ServiceKind, widgetKind)

func TestListedKind(t *testing.T) {
	docs, err := testDecoder.Parse("w.yaml", []byte(`
kind: Widget
widgetName: a
size: 2
color: red
widgetArn: arn:aws:example:widget/a
labels: {tier: web}
---
widgetName: b
size: 3
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("got %d documents, want 2", len(docs))
	}
	want := Document{Kind: "Widget", Name: "a", File: "w.yaml", Line: 2, Column: 1,
		Object: &widget{WidgetName: "a", Size: 2, Labels: map[string]string{"tier": "web"}}, Ignored: []string{"color"}}
	if !reflect.DeepEqual(docs[0], want) {
		t.Errorf("document 0:\ngot  %+v\nwant %+v", docs[0], want)
	}
	if docs[1].Kind != "Widget" || docs[1].Name != "b" || docs[1].Line != 9 {
		t.Errorf("implicit document = %+v; want Widget b at line 9", docs[1])
	}

	_, err = testDecoder.Parse("w.yaml", []byte("kind: Widget\nwidgetName: a\nsize: 0\n"))
	if got, want := err.Error(), "w.yaml:3:7: size: must be at least 1"; got != want {
		t.Errorf("error:\ngot  %s\nwant %s", got, want)
	}
}

// TestUnlistedKind checks that a decoder knows only its own list: no kind
// leaks in from another package or another decoder.
func TestUnlistedKind(t *testing.T) {
	_, err := NewDecoder(TaskDefinitionKind).Parse("w.yaml", []byte("kind: Widget\nwidgetName: a\nsize: 2\n"))
	if got, want := err.Error(), `w.yaml:1:1: kind: unknown kind "Widget"; known kinds are: TaskDefinition`; got != want {
		t.Errorf("error:\ngot  %s\nwant %s", got, want)
	}
}

func TestNewDecoderPanics(t *testing.T) {
	decode := func(*Body) (any, string, error) { return nil, "", nil }
	for name, kinds := range map[string][]Kind{
		"duplicate": {widgetKind, widgetKind},
		"no name":   {{Decode: decode}},
		"no decode": {{Name: "Gadget"}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("NewDecoder did not panic")
				}
			}()
			NewDecoder(kinds...)
		})
	}
}

func TestKindsInListOrder(t *testing.T) {
	if got, want := testDecoder.Kinds(), []string{"TaskDefinition", "Service", "Widget"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Kinds() = %v, want %v", got, want)
	}
}
