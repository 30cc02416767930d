package queue

import (
	"regexp"
	"testing"
	"time"
)

// TestMessageIDs: ids are version-7 UUIDs (what SQS clients parse as a
// UUID), unique, and ordered by the millisecond they were made in, which
// keeps etcd's key index lookups local.
func TestMessageIDs(t *testing.T) {
	uuid7 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	prev := newMessageID()
	for i := 0; i < 10000; i++ {
		id := newMessageID()
		if !uuid7.MatchString(id) {
			t.Fatalf("message id %q is not a version-7 UUID", id)
		}
		if seen[id] {
			t.Fatalf("message id %q made twice", id)
		}
		seen[id] = true
		// The first 12 hex digits are the millisecond: never going back.
		if id[:13] < prev[:13] {
			t.Fatalf("message id %q sorts before the earlier %q", id, prev)
		}
		prev = id
	}
	// Ids of a later millisecond sort after all earlier ones.
	before := newMessageID()
	deadline := time.Now().Add(5 * time.Second)
	for {
		after := newMessageID()
		if after[:13] != before[:13] {
			if after <= before {
				t.Fatalf("id %q of a later millisecond sorts before %q", after, before)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ids made for 5 s all carry the millisecond of %q", before)
		}
	}
}
