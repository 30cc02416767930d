package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// apply serves POST /v1/apply: every document is decoded by its kind's
// Applier and checked before any is applied.
func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	var req wire.ApplyRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if len(req.Documents) == 0 {
		writeError(w, badRequest("documents: no documents to apply"))
		return
	}
	objs := make([]any, len(req.Documents))
	var errs model.FieldErrors
	for i, d := range req.Documents {
		a, ok := s.appliers[d.Kind]
		if !ok {
			errs.Add(fmt.Sprintf("documents[%d].kind", i), fmt.Sprintf("unknown kind %q; known kinds: %s", d.Kind, strings.Join(s.kinds, ", ")))
			continue
		}
		obj, err := a.Decode(d.Spec)
		if err != nil {
			errs.Add(fmt.Sprintf("documents[%d]", i), err.Error())
			continue
		}
		objs[i] = obj
	}
	for i, obj := range objs {
		if c, ok := s.appliers[req.Documents[i].Kind].(BatchChecker); ok && obj != nil {
			if err := c.Check(r.Context(), obj, req.Documents, objs); err != nil {
				errs.Add(fmt.Sprintf("documents[%d]", i), err.Error())
			}
		}
	}
	if err := errs.Err(); err != nil {
		writeError(w, err)
		return
	}
	results := make([]wire.ApplyResult, 0, len(objs))
	// The audit log names what was applied (kind/name → action).
	var applied []string
	defer func() { noteObject(r, strings.Join(applied, ", ")) }()
	for i, obj := range objs {
		a := s.appliers[req.Documents[i].Kind]
		res, err := a.Apply(r.Context(), obj)
		if fa, ok := a.(ApplyForwarder); ok && err != nil {
			res, err = forwardApply(fa, r, req.Documents[i], res, err)
		}
		if err == nil {
			applied = append(applied, fmt.Sprintf("%s/%s %s", res.Kind, res.Name, res.Action))
		}
		if err != nil {
			writeJSON(w, statusOf(err), map[string]any{"results": results, "code": "ApplyFailed",
				"message": fmt.Sprintf("documents[%d] (%s): %v", i, req.Documents[i].Kind, err)})
			return
		}
		results = append(results, res)
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

// forwardApply applies doc through the replica owning it when Apply
// answered err because another replica does; it returns res and err
// unchanged when fa did not forward.
func forwardApply(fa ApplyForwarder, r *http.Request, doc wire.ApplyDocument, res wire.ApplyResult, err error) (wire.ApplyResult, error) {
	body, merr := json.Marshal(wire.ApplyRequest{Documents: []wire.ApplyDocument{doc}})
	if merr != nil {
		return res, err
	}
	rec := httptest.NewRecorder()
	if !fa.ForwardApply(rec, r, body, err) {
		return res, err
	}
	var out struct {
		Results []wire.ApplyResult `json:"results"`
		Message string             `json:"message"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	if rec.Code == http.StatusOK && len(out.Results) == 1 {
		return out.Results[0], nil
	}
	msg := strings.TrimPrefix(out.Message, "documents[0] ("+doc.Kind+"): ")
	if msg == "" {
		msg = fmt.Sprintf("the replica owning it answered %d; retry", rec.Code)
	}
	if rec.Code == http.StatusOK || rec.Code >= 500 {
		return res, &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable", msg: msg}
	}
	return res, &apiError{status: rec.Code, code: "ApplyFailed", msg: msg}
}

func statusOf(err error) int {
	rec := &statusRecorder{header: http.Header{}}
	writeError(rec, err)
	return rec.status
}

type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(s int)           { r.status = s }

func strictJSON(b []byte, v any) error {
	if err := duplicateKey(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	return nil
}
