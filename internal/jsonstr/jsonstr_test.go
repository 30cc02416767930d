package jsonstr

import (
	"encoding/json"
	"testing"
)

// Append writes what json.Marshal writes for the same string: quotes,
// control characters, HTML characters, invalid UTF-8, U+2028/U+2029.
func TestAppendMatchesJSONMarshal(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "tab\tnl\ncr\r\x00\x1f", "<a&b>", "héllo 世界",
		"bad\xffutf8\xc3", "line\u2028para\u2029", "emoji 🙂"} {
		want, _ := json.Marshal(s)
		if got := string(Append(nil, s)); got != string(want) {
			t.Errorf("Append(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendMatchesJSONMarshal(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00<>&", "\xff\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := string(Append([]byte("prefix"), s)); got != "prefix"+string(want) {
			t.Fatalf("Append(%q) = %s, want %s", s, got, want)
		}
	})
}
