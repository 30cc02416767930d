package api

import (
	"context"
	"net/http"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/auth"
)

// SecretsAdmin reports on and rotates the key ring that seals secrets in
// etcd (the servers' secrets key files).
type SecretsAdmin interface {
	SecretsStatus(ctx context.Context) (wire.SecretsStatus, error)
	// RotateSecrets re-seals every sealed value in etcd with the newest
	// key, once every live server seals with it.
	RotateSecrets(ctx context.Context) (wire.SecretsRotation, error)
}

// secretsFeature serves /v1/secrets, to admins only (it says which keys
// exist, and a rotation rewrites every secret's record).
type secretsFeature struct{ a SecretsAdmin }

// SecretsFeature returns the feature serving /v1/secrets.
func SecretsFeature(a SecretsAdmin) Feature { return secretsFeature{a} }

func (f secretsFeature) Routes(r Routes) {
	r.Handle("GET /v1/secrets", auth.RoleAdmin, f.status)
	r.Handle("POST /v1/secrets/rotate", auth.RoleAdmin, f.rotate)
}

func (secretsFeature) Kinds() []Kind { return nil }

func (f secretsFeature) status(w http.ResponseWriter, r *http.Request) {
	st, err := f.a.SecretsStatus(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (f secretsFeature) rotate(w http.ResponseWriter, r *http.Request) {
	rep, err := f.a.RotateSecrets(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	noteObject(r, "secrets key "+rep.SealingKey)
	writeJSON(w, http.StatusOK, rep)
}
