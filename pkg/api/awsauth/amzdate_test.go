package awsauth

import (
	"testing"
	"time"
)

// parseAmzDate is a fast path of time.Parse("20060102T150405Z"): whatever
// it accepts must be exactly what time.Parse gives, and it must leave every
// other input to time.Parse.
func TestParseAmzDateAgreesWithTimeParse(t *testing.T) {
	for _, s := range []string{
		"20261201T023545Z", "20240229T235959Z", "19991231T000000Z", "20260101T000000Z",
		"20250229T120000Z", // no 29 February in 2025
		"20260431T120000Z", // no 31 April
		"20261301T000000Z", "20260001T000000Z", "20260100T000000Z", "20260101T240000Z",
		"20260101T006000Z", "20260101T000060Z", "2026120XT023545Z", "20261201 023545Z",
		"20261201T023545", "20261201T0235450Z", "", "Tue, 01 Dec 2026 02:35:45 GMT",
	} {
		checkAmzDate(t, s)
	}
}

func FuzzParseAmzDate(f *testing.F) {
	f.Add("20261201T023545Z")
	f.Add("20260431T120000Z")
	f.Add("+0261201T023545Z")
	f.Fuzz(func(t *testing.T, s string) { checkAmzDate(t, s) })
}

func checkAmzDate(t *testing.T, s string) {
	t.Helper()
	got, ok := parseAmzDate(s)
	want, err := time.Parse("20060102T150405Z", s)
	if ok && (err != nil || !got.Equal(want) || got.Location() != time.UTC) {
		t.Errorf("parseAmzDate(%q) = %v, but time.Parse gives %v, %v", s, got, want, err)
	}
	if !ok && err == nil && len(s) == 16 && s[0] >= '0' && s[0] <= '9' {
		// Not wrong (time.Parse still runs), but the fast path should
		// take every plain basic-format date.
		t.Errorf("parseAmzDate(%q) declined a date time.Parse reads as %v", s, want)
	}
}
