package model

import (
	"fmt"
	"unicode/utf8"
)

// Tag bounds (ECS): keys 1-128 characters, values 0-256, at most 50 tags
// per resource.
const (
	MaxTagKeyLength   = 128
	MaxTagValueLength = 256
	MaxTags           = 50
)

// ValidateTags checks tags as ECS does, with paths under path ("tags").
func ValidateTags(path string, tags []Tag) FieldErrors {
	var errs FieldErrors
	if len(tags) > MaxTags {
		errs.Add(path, fmt.Sprintf("at most %d tags per resource, got %d", MaxTags, len(tags)))
	}
	for i, t := range tags {
		if n := utf8.RuneCountInString(t.Key); n == 0 || n > MaxTagKeyLength {
			errs.Add(fmt.Sprintf("%s[%d].key", path, i), fmt.Sprintf("must be 1-%d characters", MaxTagKeyLength))
		}
		if utf8.RuneCountInString(t.Value) > MaxTagValueLength {
			errs.Add(fmt.Sprintf("%s[%d].value", path, i), fmt.Sprintf("must be at most %d characters", MaxTagValueLength))
		}
	}
	return errs
}

// MergeTags returns tags with add applied (a key in add replaces the same
// key in tags) and the keys in remove dropped, in a stable order: existing
// keys first, new keys after.
func MergeTags(tags, add []Tag, remove []string) []Tag {
	drop := map[string]bool{}
	for _, k := range remove {
		drop[k] = true
	}
	set := map[string]string{}
	for _, t := range add {
		set[t.Key] = t.Value
	}
	var out []Tag
	seen := map[string]bool{}
	for _, t := range tags {
		if drop[t.Key] || seen[t.Key] {
			continue
		}
		seen[t.Key] = true
		if v, ok := set[t.Key]; ok {
			t.Value = v
		}
		out = append(out, t)
	}
	for _, t := range add {
		if drop[t.Key] || seen[t.Key] {
			continue
		}
		seen[t.Key] = true
		out = append(out, Tag{Key: t.Key, Value: set[t.Key]})
	}
	return out
}
