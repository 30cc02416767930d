package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
)

// AWSKeyAdmin manages the cluster's admin AWS access keys, as IAM's
// CreateAccessKey, ListAccessKeys, UpdateAccessKey and DeleteAccessKey do
// a user's. Whoever implements it makes a key refused on every replica as
// soon as it is deactivated or removed.
type AWSKeyAdmin interface {
	CreateAWSKey(ctx context.Context, createdBy string) (wire.AccessKey, error)
	ListAWSKeys(ctx context.Context) ([]model.AccessKeyMeta, error)
	SetAWSKeyStatus(ctx context.Context, id, status string) (model.AccessKeyMeta, error)
	DeleteAWSKey(ctx context.Context, id string) (model.AccessKeyMeta, error)
}

// awsKeysFeature serves /v1/aws-keys, to admins only: an admin AWS key
// may do every SQS, SNS, Lambda and ECS action, and listing them tells
// which ids to try.
type awsKeysFeature struct{ a AWSKeyAdmin }

// AWSKeysFeature returns the feature serving /v1/aws-keys.
func AWSKeysFeature(a AWSKeyAdmin) Feature { return awsKeysFeature{a} }

func (f awsKeysFeature) Routes(r Routes) {
	r.Handle("POST /v1/aws-keys", auth.RoleAdmin, f.create)
	r.Handle("GET /v1/aws-keys", auth.RoleAdmin, f.list)
	r.Handle("PUT /v1/aws-keys/{id}", auth.RoleAdmin, f.update)
	r.Handle("DELETE /v1/aws-keys/{id}", auth.RoleAdmin, f.delete)
}

func (awsKeysFeature) Kinds() []Kind { return nil }

// create mints a key; the answer is the one time its secret is shown (the
// server keeps it sealed, since verifying signatures needs it).
func (f awsKeysFeature) create(w http.ResponseWriter, r *http.Request) {
	by, _ := Caller(r.Context())
	k, err := f.a.CreateAWSKey(r.Context(), by.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	noteObject(r, "aws-key "+k.AccessKeyId)
	writeJSON(w, http.StatusCreated, k)
}

func (f awsKeysFeature) list(w http.ResponseWriter, r *http.Request) {
	keys, err := f.a.ListAWSKeys(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.AccessKeyList{AccessKeyMetadata: keys})
}

func (f awsKeysFeature) update(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var in wire.AccessKeyUpdate
	if err := decode(w, r, &in); err != nil {
		writeError(w, err)
		return
	}
	if err := checkAccessKeyID(id); err != nil {
		writeError(w, err)
		return
	}
	m, err := f.a.SetAWSKeyStatus(r.Context(), id, in.Status)
	if err != nil {
		writeError(w, err)
		return
	}
	noteObject(r, fmt.Sprintf("aws-key %s %s", id, m.Status))
	writeJSON(w, http.StatusOK, m)
}

func (f awsKeysFeature) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := checkAccessKeyID(id); err != nil {
		writeError(w, err)
		return
	}
	m, err := f.a.DeleteAWSKey(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	noteObject(r, "aws-key "+id)
	writeJSON(w, http.StatusOK, map[string]any{"deleted": m})
}

// checkAccessKeyID accepts what an admin key id looks like (AKIA and 16
// more upper-case letters or digits), so no other text reaches a store key.
func checkAccessKeyID(id string) error {
	ok := len(id) == 20 && id[:4] == "AKIA"
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
	}
	if !ok {
		return &model.FieldError{Path: "id", Message: fmt.Sprintf("%q is not an admin access key id (AKIA and 16 upper-case letters or digits; orch aws-key ls lists them)", id)}
	}
	return nil
}
