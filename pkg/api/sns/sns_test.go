package sns

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/topic"
)

// Every topic error kind has an SNS code; client faults are 4xx.
func TestEveryKindHasACode(t *testing.T) {
	for k := topic.KindInternal; k <= topic.KindTagLimit; k++ {
		c, ok := codes[k]
		if !ok {
			t.Errorf("kind %v has no SNS code", k)
			continue
		}
		if k.ClientFault() != (c.Status < 500) {
			t.Errorf("kind %v: status %d, client fault %v", k, c.Status, k.ClientFault())
		}
	}
}

func TestFormReaders(t *testing.T) {
	form, _ := url.ParseQuery("Attributes.entry.1.key=DisplayName&Attributes.entry.1.value=News&Attributes.entry.2.key=FifoTopic&Attributes.entry.2.value=true" +
		"&Tags.member.1.Key=team&Tags.member.1.Value=shop&TagKeys.member.1=a&TagKeys.member.2=b" +
		"&MessageAttributes.entry.1.Name=n&MessageAttributes.entry.1.Value.DataType=Number&MessageAttributes.entry.1.Value.StringValue=3" +
		"&MessageAttributes.entry.2.Name=b&MessageAttributes.entry.2.Value.DataType=Binary&MessageAttributes.entry.2.Value.BinaryValue=AQI%3D")
	if got := entries(form, "Attributes", "key", "value"); got["DisplayName"] != "News" || got["FifoTopic"] != "true" || len(got) != 2 {
		t.Errorf("entries: %v", got)
	}
	if got := tags(form, "Tags"); got["team"] != "shop" || len(got) != 1 {
		t.Errorf("tags: %v", got)
	}
	if got := members(form, "TagKeys"); strings.Join(got, ",") != "a,b" {
		t.Errorf("members: %v", got)
	}
	ma, err := messageAttributes(form, "MessageAttributes")
	if err != nil || ma["n"].StringValue != "3" || ma["n"].DataType != "Number" || string(ma["b"].BinaryValue) != "\x01\x02" {
		t.Errorf("messageAttributes: %v %v", ma, err)
	}
	bad, _ := url.ParseQuery("MessageAttributes.entry.1.Name=b&MessageAttributes.entry.1.Value.DataType=Binary&MessageAttributes.entry.1.Value.BinaryValue=!!!!")
	if _, err := messageAttributes(bad, "MessageAttributes"); topic.KindOf(err) != topic.KindInvalidValue {
		t.Errorf("bad base64: %v", err)
	}
}

// Claims takes SNS query actions only: not SQS's, not JSON-protocol calls.
func TestClaims(t *testing.T) {
	for _, tc := range []struct {
		body, target string
		want         bool
	}{
		{"Action=Publish&Version=2010-03-31", "", true},
		{"Action=ListTopics", "", true},
		{"Action=SendMessage&Version=2012-11-05", "", false},
		{"Action=Publish", "AmazonSQS.SendMessage", false},
		{"nothing", "", false},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.target != "" {
			r.Header.Set("X-Amz-Target", tc.target)
		}
		if got := IsSNSRequest(r); got != tc.want {
			t.Errorf("IsSNSRequest(%q, target %q) = %v, want %v", tc.body, tc.target, got, tc.want)
		}
	}
}
