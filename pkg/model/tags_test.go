package model

import (
	"fmt"
	"strings"
	"testing"
)

func TestMergeTags(t *testing.T) {
	tags := []Tag{{"a", "1"}, {"b", "2"}}
	got := MergeTags(tags, []Tag{{"b", "20"}, {"c", "3"}}, []string{"a"})
	if fmt.Sprint(got) != "[{b 20} {c 3}]" {
		t.Fatalf("MergeTags = %v, want b=20 (replaced), c=3 (added), a dropped", got)
	}
	if fmt.Sprint(tags) != "[{a 1} {b 2}]" {
		t.Fatalf("MergeTags changed its input: %v", tags)
	}
}

func TestValidateTags(t *testing.T) {
	errs := ValidateTags("tags", []Tag{{"", "x"}, {"k", strings.Repeat("v", 257)}})
	if len(errs) != 2 || errs[0].Path != "tags[0].key" || errs[1].Path != "tags[1].value" {
		t.Fatalf("ValidateTags = %v, want errors at tags[0].key and tags[1].value", errs)
	}
	many := make([]Tag, MaxTags+1)
	for i := range many {
		many[i] = Tag{Key: fmt.Sprint(i)}
	}
	if ValidateTags("tags", many).Err() == nil {
		t.Fatal("51 tags were accepted")
	}
}
