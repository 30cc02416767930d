package awsproto

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzFormAction: any form body is sniffed without a panic, and whatever
// was sniffed is still the whole body for ReadBody.
func FuzzFormAction(f *testing.F) {
	for _, s := range []string{"Action=SendMessage", "a=b&Action=Create%51ueue", "Action=%zz", "&&&", "Action", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_ = FormAction(r, 1<<20)
		b, err := ReadBody(r, 1<<20)
		if err != nil || string(b) != body {
			t.Fatalf("ReadBody after FormAction = %q, %v; want %q", b, err, body)
		}
	})
}
