package sqs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
)

// REST is Orch's native queue API under /v1/queues, used by the orch CLI.
// Routes returns its handlers by ServeMux pattern; mount them behind admin
// authentication.
type REST struct {
	b   *queue.Broker
	fwd *awsproto.Forwarder // to the replica owning a queue's shard
}

// NewREST returns the /v1/queues handlers; they forward to the owning
// replica as h does (nil: a Handler of their own).
func NewREST(b *queue.Broker, h *Handler) *REST {
	if h == nil {
		h = NewHandler(b, nil, nil)
	}
	return &REST{b: b, fwd: h.fwd}
}

// Routes are the handlers by pattern.
func (rs *REST) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /v1/queues":                  rs.wrap(rs.list),
		"POST /v1/queues":                 rs.wrap(rs.create),
		"GET /v1/queues/{name}":           rs.wrap(rs.get),
		"DELETE /v1/queues/{name}":        rs.wrap(rs.del),
		"POST /v1/queues/{name}/messages": rs.wrap(rs.send),
		"POST /v1/queues/{name}/receive":  rs.wrap(rs.receive),
		"POST /v1/queues/{name}/purge":    rs.wrap(rs.purge),
		"POST /v1/queues/{name}/redrive":  rs.wrap(rs.redrive),
		"GET /v1/queues/{name}/redrive":   rs.wrap(rs.redriveStatus),
	}
}

type restFunc func(ctx context.Context, r *http.Request, body []byte) (int, any, error)

func (rs *REST) wrap(f restFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := awsproto.ReadBody(r, MaxBodyBytes)
		if err != nil {
			writeREST(w, http.StatusRequestEntityTooLarge, wire.Error{Code: "RequestTooLarge", Message: err.Error()})
			return
		}
		status, out, err := f(r.Context(), r, body)
		if errors.Is(err, queue.ErrNotOwner) && rs.fwd.ForwardTo(w, r, body, queue.OwnerURLOf(err)) {
			return
		}
		if err != nil {
			e := toWire(err)
			status := e.HTTPStatus()
			if queue.KindOf(err) == queue.KindNoSuchQueue {
				status = http.StatusNotFound
			}
			writeREST(w, status, wire.Error{Code: e.Code, Message: e.Message})
			return
		}
		writeREST(w, status, out)
	}
}

func writeREST(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return queue.ErrInvalidParameterValue.With("The request body is not valid: %v", err)
	}
	return nil
}

func (rs *REST) view(ctx context.Context, r *http.Request, name string, detail bool) (*wire.QueueView, error) {
	sts, err := rs.b.QueueStats(ctx, name)
	if err != nil {
		return nil, err
	}
	st := sts[0]
	v := &wire.QueueView{Name: st.Name, Fifo: st.Fifo, Visible: st.Visible, InFlight: st.InFlight, Delayed: st.Delayed,
		OldestAgeSeconds: st.OldestAgeSeconds, DeadLetterQueue: st.DeadLetterQueue, MaxReceiveCount: st.MaxReceiveCount,
		URL: baseURL(r) + "/" + model.AccountID + "/" + name, Arn: model.QueueArn(rs.b.Region(), name), Owner: rs.b.SelfURL()}
	if detail {
		if v.Attributes, err = rs.b.GetQueueAttributes(ctx, name, []string{"All"}); err != nil {
			return nil, err
		}
		if v.Tags, err = rs.b.ListQueueTags(ctx, name); err != nil {
			return nil, err
		}
		if v.Sources, err = rs.b.ListDeadLetterSourceQueues(ctx, name); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// list answers a page of queues in name order, as the other /v1 lists:
// {"queues": [...], "nextToken": "..."} ("" on the last page).
func (rs *REST) list(ctx context.Context, r *http.Request, _ []byte) (int, any, error) {
	page, err := api.ParsePage(r)
	if err != nil {
		return 0, nil, &awsproto.Error{Code: "BadRequest", Status: http.StatusBadRequest, Message: err.Error()}
	}
	all, err := rs.b.ListQueues(ctx, r.URL.Query().Get("prefix"))
	if err != nil {
		return 0, nil, err
	}
	names, next := api.Page(all, func(n string) string { return n }, page)
	out := []*wire.QueueView{}
	for _, n := range names {
		v, err := rs.view(ctx, r, n, false)
		if errors.Is(err, queue.ErrNotOwner) {
			v, err = rs.remoteView(r, n, queue.OwnerURLOf(err))
		}
		if errors.Is(err, queue.ErrQueueDoesNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return 0, nil, err
		}
		out = append(out, v)
	}
	return http.StatusOK, wire.QueueList{Queues: out, NextToken: next}, nil
}

// remoteView asks the replica owning queue name for its view: the list's
// request, as GET /v1/queues/{name}, with the caller's credentials.
func (rs *REST) remoteView(r *http.Request, name, ownerURL string) (*wire.QueueView, error) {
	if ownerURL == "" || r.Header.Get(awsproto.ForwardedHeader) != "" {
		return nil, queue.ErrServiceUnavailable
	}
	r2 := r.Clone(r.Context())
	r2.Method = http.MethodGet
	r2.URL.Path = "/v1/queues/" + url.PathEscape(name)
	r2.URL.RawPath, r2.URL.RawQuery = "", ""
	rec := httptest.NewRecorder()
	rs.fwd.Forward(rec, r2, nil, ownerURL)
	if rec.Code == http.StatusNotFound {
		return nil, queue.ErrQueueDoesNotExist
	}
	if rec.Code != http.StatusOK {
		return nil, queue.ErrServiceUnavailable.With("the replica owning queue %s answered %d", name, rec.Code)
	}
	var v wire.QueueView
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		return nil, queue.ErrServiceUnavailable.With("the replica owning queue %s answered: %v", name, err)
	}
	v.Attributes, v.Tags, v.Sources = nil, nil, nil // a list shows the counts only
	return &v, nil
}

func (rs *REST) get(ctx context.Context, r *http.Request, _ []byte) (int, any, error) {
	v, err := rs.view(ctx, r, r.PathValue("name"), true)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

func (rs *REST) create(ctx context.Context, r *http.Request, body []byte) (int, any, error) {
	var spec model.QueueSpec
	if err := decodeStrict(body, &spec); err != nil {
		return 0, nil, err
	}
	if _, err := rs.b.CreateQueue(ctx, spec.QueueName, spec.Attributes, spec.Tags); err != nil {
		return 0, nil, err
	}
	v, err := rs.view(ctx, r, spec.QueueName, true)
	return http.StatusOK, v, err
}

func (rs *REST) del(ctx context.Context, r *http.Request, _ []byte) (int, any, error) {
	return http.StatusOK, map[string]string{"deleted": r.PathValue("name")}, rs.b.DeleteQueue(ctx, r.PathValue("name"))
}

func (rs *REST) purge(ctx context.Context, r *http.Request, _ []byte) (int, any, error) {
	return http.StatusOK, map[string]string{"purged": r.PathValue("name")}, rs.b.PurgeQueue(ctx, r.PathValue("name"))
}

func (rs *REST) send(ctx context.Context, r *http.Request, body []byte) (int, any, error) {
	var req wire.SendMessageRequest
	if err := decodeStrict(body, &req); err != nil {
		return 0, nil, err
	}
	res, err := rs.b.SendMessage(ctx, r.PathValue("name"), queue.SendEntry{Body: req.Body, DelaySeconds: req.DelaySeconds,
		Attributes: req.Attributes, GroupID: req.GroupID, DeduplicationID: req.DeduplicationID})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"messageId": res.MessageID, "md5OfBody": res.MD5OfBody, "sequenceNumber": res.SequenceNumber}, nil
}

func (rs *REST) receive(ctx context.Context, r *http.Request, body []byte) (int, any, error) {
	var req wire.ReceiveMessagesRequest
	if len(body) > 0 {
		if err := decodeStrict(body, &req); err != nil {
			return 0, nil, err
		}
	}
	wait := req.WaitSeconds
	ms, err := rs.b.ReceiveMessage(ctx, r.PathValue("name"), queue.ReceiveInput{MaxNumberOfMessages: req.Max, WaitTimeSeconds: &wait,
		VisibilityTimeout: req.VisibilityTimeout, AttributeNames: []string{"All"}})
	if err != nil {
		return 0, nil, err
	}
	out := []wire.QueueMessage{}
	for _, m := range ms {
		out = append(out, wire.QueueMessage{MessageID: m.MessageID, ReceiptHandle: m.ReceiptHandle, Body: m.Body, Attributes: m.Attributes})
		if req.Delete {
			if err := rs.b.DeleteMessage(ctx, r.PathValue("name"), m.ReceiptHandle); err != nil {
				return 0, nil, fmt.Errorf("deleting a received message: %w", err)
			}
		}
	}
	return http.StatusOK, out, nil
}

func (rs *REST) redrive(ctx context.Context, r *http.Request, body []byte) (int, any, error) {
	var req wire.RedriveRequest
	if len(body) > 0 {
		if err := decodeStrict(body, &req); err != nil {
			return 0, nil, err
		}
	}
	dst := ""
	if req.Destination != "" {
		dst = req.Destination
		if !strings.HasPrefix(dst, "arn:") {
			dst = model.QueueArn(rs.b.Region(), dst)
		}
	}
	h, err := rs.b.StartMessageMoveTask(ctx, model.QueueArn(rs.b.Region(), r.PathValue("name")), dst, req.RatePerSec)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"taskHandle": h}, nil
}

func (rs *REST) redriveStatus(ctx context.Context, r *http.Request, _ []byte) (int, any, error) {
	ts, err := rs.b.ListMessageMoveTasks(ctx, model.QueueArn(rs.b.Region(), r.PathValue("name")), 10)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ts, nil
}
