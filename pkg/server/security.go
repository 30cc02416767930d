package server

import (
	"context"

	"github.com/orch-project/orch/pkg/api"
	"github.com/orch-project/orch/pkg/store"
)

// securityFeature serves the cluster policy (/v1/policy) and runs the
// audit log's writer (the API records every write into it; GET /v1/audit
// and the token routes are the API server's own).
type securityFeature struct {
	api.Feature
	audit *store.AuditLog
}

func (f securityFeature) Run(ctx context.Context) error { return f.audit.Run(ctx) }
