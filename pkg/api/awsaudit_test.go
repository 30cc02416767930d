package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/model"
)

type memAudit struct {
	mu      sync.Mutex
	entries []model.AuditEntry
}

func (m *memAudit) Record(e model.AuditEntry) {
	m.mu.Lock()
	m.entries = append(m.entries, e)
	m.mu.Unlock()
}
func (m *memAudit) List(context.Context, string, int, string) ([]model.AuditEntry, string, error) {
	return nil, "", nil
}
func (m *memAudit) all() []model.AuditEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]model.AuditEntry(nil), m.entries...)
}

// awsFake is an AWS query protocol whose "authorization" notes the action
// named by the form's Action (as awsKeys.Authorize does), answers an
// InvalidParameterValue for Action=Bad..., and forwards to owner when one
// is set and the request was not forwarded already.
type awsFake struct{ fwd *awsproto.Forwarder }

type fakeOwner struct{ url string }

func (o fakeOwner) Owned() bool                              { return false }
func (o fakeOwner) OwnerURL(context.Context) (string, error) { return o.url, nil }
func (o fakeOwner) SelfURL() string                          { return "http://self.invalid" }

func (f *awsFake) Routes(r Routes) {
	r.Protocol(func(r *http.Request) bool { return r.URL.Query().Get("Action") != "" }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := r.URL.Query().Get("Action")
		if n := awsproto.Note(r); n != nil {
			n.Action, n.Resource, n.KeyID, n.Role = "sqs:"+action, "arn:aws:sqs:us-east-1:000000000000:q", "AKIATEST", "admin"
		}
		if f.fwd != nil && f.fwd.ForwardIfNotOwner(w, r, nil) {
			return
		}
		if strings.HasPrefix(action, "Bad") {
			awsproto.WriteError(w, r, &awsproto.Error{Code: "InvalidParameterValue", Status: 400, Message: "the queue name & tags are wrong"})
			return
		}
		w.Write([]byte("<ok/>"))
	}))
}
func (f *awsFake) Kinds() []Kind { return nil }

func TestAWSCallsAudited(t *testing.T) {
	ownerLog, frontLog := &memAudit{}, &memAudit{}
	owner := httptest.NewServer(New(Config{Features: []Feature{&awsFake{}}, Audit: ownerLog}).Handler())
	defer owner.Close()
	fwd := awsproto.NewForwarder(fakeOwner{owner.URL}, nil, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	front := httptest.NewServer(New(Config{Features: []Feature{&awsFake{fwd: fwd}}, Audit: frontLog}).Handler())
	defer front.Close()

	for _, a := range []string{"SendMessage", "GetQueueAttributes", "CreateQueue", "BadTagQueue"} {
		resp, err := http.Post(front.URL+"/?Action="+a, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := frontLog.all(); len(got) != 0 {
		t.Errorf("the forwarding replica recorded %+v; the owner records forwarded calls", got)
	}
	got := ownerLog.all()
	if len(got) != 2 {
		t.Fatalf("owner recorded %d entries, want CreateQueue and BadTagQueue only: %+v", len(got), got)
	}
	if e := got[0]; e.Action != "sqs:CreateQueue" || e.Actor != "AKIATEST" || e.Role != "admin" || e.Outcome != model.AuditOK || e.Object != "arn:aws:sqs:us-east-1:000000000000:q" || e.Remote == "" {
		t.Errorf("CreateQueue entry: %+v", e)
	}
	if e := got[1]; e.Outcome != model.AuditFailed || e.Status != 400 || e.Error != "the queue name & tags are wrong" {
		t.Errorf("failed TagQueue entry: %+v, want failed 400 with the XML error's message", e)
	}
}
