package awsproto

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// countingBody counts reads from the connection.
type countingBody struct {
	io.Reader
	reads int
}

func (c *countingBody) Read(p []byte) (int, error) { c.reads++; return c.Reader.Read(p) }
func (c *countingBody) Close() error               { return nil }

func TestFormActionAndReadBodyReadOnce(t *testing.T) {
	body := &countingBody{Reader: strings.NewReader("Action=SendMessage&MessageBody=hi")}
	r := httptest.NewRequest("POST", "/", nil)
	r.Body = body
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if got := FormAction(r, 1<<20); got != "SendMessage" {
		t.Fatalf("FormAction = %q, want SendMessage", got)
	}
	reads := body.reads
	b, err := ReadBody(r, 1<<20)
	if err != nil || string(b) != "Action=SendMessage&MessageBody=hi" {
		t.Fatalf("ReadBody = %q, %v; want the whole form", b, err)
	}
	if body.reads != reads {
		t.Fatalf("ReadBody read the connection again (%d reads, want %d)", body.reads, reads)
	}
	// A proxy after us still gets the body.
	rest, _ := io.ReadAll(r.Body)
	if string(rest) != string(b) {
		t.Fatalf("r.Body after ReadBody = %q, want %q", rest, b)
	}
}

func TestFormAction(t *testing.T) {
	tests := []struct {
		name, method, url, contentType, body, want string
	}{
		{"in the query string", "GET", "/?Action=ListQueues", "", "", "ListQueues"},
		{"in a form body", "POST", "/", "application/x-www-form-urlencoded", "QueueName=q&Action=CreateQueue", "CreateQueue"},
		{"escaped", "POST", "/", "application/x-www-form-urlencoded", "Action=Send%4Dessage", "SendMessage"},
		{"not a form", "POST", "/", "application/json", "Action=CreateQueue", ""},
		{"no action", "POST", "/", "application/x-www-form-urlencoded", "QueueName=q", ""},
		{"GET without one", "GET", "/healthz", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			if got := FormAction(r, 1<<20); got != tc.want {
				t.Fatalf("FormAction = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadBodyTooLarge(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader("0123456789"))
	if _, err := ReadBody(r, 4); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("ReadBody over the limit: %v, want ErrBodyTooLarge", err)
	}
}

func TestErrorShapes(t *testing.T) {
	e := &Error{Code: "QueueDoesNotExist", QueryCode: "AWS.SimpleQueueService.NonExistentQueue", Status: 400, Message: "gone"}
	tests := []struct {
		name       string
		write      func(w http.ResponseWriter)
		wantHeader map[string]string
		wantBody   string
	}{
		{"JSON 1.0, query compatible", func(w http.ResponseWriter) {
			JSONDialect{Version: "1.0", TypePrefix: "com.amazonaws.sqs#", QueryCompatible: true}.WriteError(w, "rid", e)
		}, map[string]string{"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender", "x-amzn-RequestId": "rid"},
			`{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"gone"}`},
		{"JSON 1.1", func(w http.ResponseWriter) {
			JSONDialect{Version: "1.1", TypePrefix: "ns#"}.WriteError(w, "rid", e)
		}, map[string]string{"Content-Type": "application/x-amz-json-1.1", "x-amzn-query-error": ""},
			`{"__type":"ns#QueueDoesNotExist","message":"gone"}`},
		{"query/XML", func(w http.ResponseWriter) { XMLDialect{Namespace: "urn:x"}.WriteError(w, "rid", e) },
			map[string]string{"Content-Type": "text/xml"},
			`<?xml version="1.0"?><ErrorResponse xmlns="urn:x"><Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>gone</Message><Detail/></Error><RequestId>rid</RequestId></ErrorResponse>`},
		{"REST-JSON", func(w http.ResponseWriter) { RESTJSONDialect{}.WriteError(w, "rid", e) },
			map[string]string{"X-Amzn-ErrorType": "QueueDoesNotExist"}, `{"Type":"User","message":"gone"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			tc.write(w)
			if w.Code != 400 {
				t.Errorf("status = %d, want 400", w.Code)
			}
			for k, v := range tc.wantHeader {
				if got := w.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if got := w.Body.String(); got != tc.wantBody {
				t.Errorf("body = %s\nwant %s", got, tc.wantBody)
			}
		})
	}
}

func TestNewRequestIDIsAUUID(t *testing.T) {
	id := NewRequestID()
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		t.Fatalf("NewRequestID = %q, want the 8-4-4-4-12 form", id)
	}
	if NewRequestID() == id {
		t.Fatal("two request ids are equal")
	}
}

// Request ids come from a counter: concurrent requests must still never
// share one.
func TestNewRequestIDUniqueUnderConcurrency(t *testing.T) {
	const workers, each = 8, 5000
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range ids {
		wg.Go(func() {
			for range each {
				ids[w] = append(ids[w], NewRequestID())
			}
		})
	}
	wg.Wait()
	seen := make(map[string]bool, workers*each)
	for _, l := range ids {
		for _, id := range l {
			if seen[id] {
				t.Fatalf("request id %s was handed out twice", id)
			}
			seen[id] = true
		}
	}
}

// fakeOwner is an Owner whose answers the test sets.
type fakeOwner struct {
	owned       bool
	owner, self string
}

func (o fakeOwner) Owned() bool                              { return o.owned }
func (o fakeOwner) OwnerURL(context.Context) (string, error) { return o.owner, nil }
func (o fakeOwner) SelfURL() string                          { return o.self }

func TestForwardIfNotOwner(t *testing.T) {
	var gotHost, gotBody, gotMark string
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotHost, gotBody, gotMark = r.Host, string(b), r.Header.Get(ForwardedHeader)
		w.WriteHeader(http.StatusTeapot)
	}))
	defer owner.Close()
	tests := []struct {
		name        string
		o           fakeOwner
		forwarded   bool // the request already carries ForwardedHeader
		wantForward bool
	}{
		{"owner serves itself", fakeOwner{owned: true, owner: owner.URL}, false, false},
		{"another replica owns", fakeOwner{owner: owner.URL, self: "http://me"}, false, true},
		{"already forwarded once", fakeOwner{owner: owner.URL, self: "http://me"}, true, false},
		{"owner unknown", fakeOwner{self: "http://me"}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gotHost, gotBody, gotMark = "", "", ""
			f := NewForwarder(tc.o, nil, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
			r := httptest.NewRequest("POST", "http://queues.example/", strings.NewReader("payload"))
			if tc.forwarded {
				r.Header.Set(ForwardedHeader, "1")
			}
			body, _ := ReadBody(r, 1<<10)
			w := httptest.NewRecorder()
			if got := f.ForwardIfNotOwner(w, r, body); got != tc.wantForward {
				t.Fatalf("ForwardIfNotOwner = %v, want %v", got, tc.wantForward)
			}
			if !tc.wantForward {
				return
			}
			if w.Code != http.StatusTeapot || gotHost != "queues.example" || gotBody != "payload" || gotMark != "1" {
				t.Fatalf("forwarded: status %d, Host %q, body %q, mark %q; want 418, queues.example, payload, 1", w.Code, gotHost, gotBody, gotMark)
			}
		})
	}
}

func TestJSONResult(t *testing.T) {
	w := httptest.NewRecorder()
	JSONDialect{Version: "1.0"}.WriteResult(w, "rid", map[string]string{"QueueUrl": "u"})
	var v map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || v["QueueUrl"] != "u" || w.Header().Get("x-amzn-RequestId") != "rid" {
		t.Fatalf("WriteResult = %d %s (%v)", w.Code, w.Body, err)
	}
}

// TestLooksLikeAWS: query-protocol form POSTs are AWS; the dashboard's
// own form POSTs (sign-in, scale) are not, or the gate would refuse them
// as unsigned AWS calls.
func TestLooksLikeAWS(t *testing.T) {
	form := func(path string) *http.Request {
		r := httptest.NewRequest("POST", path, strings.NewReader("a=b"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	for _, c := range []struct {
		r    *http.Request
		want bool
	}{
		{form("/"), true},
		{form("/000000000000/orders"), true},
		{httptest.NewRequest("GET", "/ui/login?Action=ListTopics", nil), true},
		{form("/ui/login"), false},
		{form("/ui/services/web/scale"), false},
		{httptest.NewRequest("GET", "/ui/fleet", nil), false},
	} {
		if got := LooksLikeAWS(c.r); got != c.want {
			t.Errorf("LooksLikeAWS(%s %s) = %v; want %v", c.r.Method, c.r.URL, got, c.want)
		}
	}
}

// Issue 11 item 4: body parameters never override the (signed) query's:
// a parameter in both is refused, so a read-only presigned URL cannot
// become DeleteQueue by a POSTed body.
func TestFormRefusesAParameterInBothPlaces(t *testing.T) {
	r := httptest.NewRequest("POST", "/?Action=ReceiveMessage&QueueUrl=q", nil)
	_, err := Form(r, []byte("Action=DeleteQueue"))
	if err == nil || !strings.Contains(err.Error(), "Action") {
		t.Fatalf("Form = %v, want an error naming Action", err)
	}
	form, err := Form(r, []byte("MaxNumberOfMessages=2"))
	if err != nil || form.Get("Action") != "ReceiveMessage" || form.Get("MaxNumberOfMessages") != "2" {
		t.Fatalf("Form = %v, %v; want the query's and the body's parameters", form, err)
	}
}

// Every answer carries its Content-Length, the large ones too (net/http
// sends an answer over 2 KB without one chunked, in more writes: over
// TLS more records), and error answers keep their status.
func TestAnswersCarryTheirContentLength(t *testing.T) {
	big := []byte(`{"Messages":[` + strings.Repeat(`{"Body":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},`, 100) + `{}]}`)
	xmlDialect := XMLDialect{Namespace: "http://queue.amazonaws.com/doc/2012-11-05/"}
	cases := []struct {
		name   string
		write  func(w http.ResponseWriter)
		status int
	}{
		{"json result", func(w http.ResponseWriter) { JSONDialect{Version: "1.0"}.WriteEncoded(w, "r1", big) }, 200},
		{"json error", func(w http.ResponseWriter) { JSONDialect{Version: "1.0"}.WriteError(w, "r1", ErrInternal) }, 500},
		{"rest-json result", func(w http.ResponseWriter) {
			RESTJSONDialect{}.WriteResult(w, "r1", 201, map[string]string{"Payload": string(big)})
		}, 201},
		{"xml result", func(w http.ResponseWriter) {
			xmlDialect.WriteResult(w, "ReceiveMessage", "r1", func(x *XMLWriter) { x.El("Body", string(big)) })
		}, 200},
		{"xml error", func(w http.ResponseWriter) { xmlDialect.WriteError(w, "r1", ErrInternal) }, 500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.write(w) }))
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || len(resp.TransferEncoding) != 0 || resp.ContentLength != int64(len(b)) {
				t.Fatalf("got status %d, Transfer-Encoding %v, Content-Length %d for a %d-byte body; want %d, none, %d",
					resp.StatusCode, resp.TransferEncoding, resp.ContentLength, len(b), c.status, len(b))
			}
		})
	}
}
