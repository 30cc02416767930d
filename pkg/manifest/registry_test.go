package manifest

import (
	"reflect"
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

// widget is a stand-in for kinds other packages register (Service, Queue, ...).
type widget struct {
	WidgetName string            `json:"widgetName"`
	Size       int               `json:"size"`
	Labels     map[string]string `json:"labels,omitempty"`
}

var widgetSchema = Schema{
	reflect.TypeFor[widget](): {Ignored: []string{"color"}, ReadOnly: []string{"widgetArn"}},
}

func init() {
	Register("Widget", func(b *Body) (any, string, error) {
		w := new(widget)
		_ = b.Decode(w, widgetSchema)
		var errs model.FieldErrors
		if w.Size < 1 {
			errs.Add("size", "must be at least 1")
		}
		return w, w.WidgetName, errs.Err()
	}, Implicit(func(b *Body) bool { return b.Has("widgetName") }))
}

func TestRegisteredKind(t *testing.T) {
	docs, err := Parse("w.yaml", []byte(`
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

	_, err = Parse("w.yaml", []byte("kind: Widget\nwidgetName: a\nsize: 0\n"))
	if got, want := err.Error(), "w.yaml:3:7: size: must be at least 1"; got != want {
		t.Errorf("error:\ngot  %s\nwant %s", got, want)
	}
}

func TestRegisterPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"duplicate": func() { Register("Widget", func(*Body) (any, string, error) { return nil, "", nil }) },
		"empty":     func() { Register("", func(*Body) (any, string, error) { return nil, "", nil }) },
		"nil":       func() { Register("Gadget", nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Register did not panic")
				}
			}()
			f()
		})
	}
}

func TestKinds(t *testing.T) {
	if got, want := Kinds(), []string{"Service", "TaskDefinition", "Widget"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Kinds() = %v, want %v", got, want)
	}
}
