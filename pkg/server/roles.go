package server

import (
	"strings"

	"github.com/orch-project/orch/pkg/auth"
)

// restRole is the role a workload feature's /v1 route (queues, topics,
// scaling) requires: a viewer may call every GET (they only read, so `orch
// get queues` and the dashboard work with a viewer token, as docs/api.md
// says), anything else needs a deployer (or an admin).
func restRole(pattern string) auth.Role {
	if strings.HasPrefix(pattern, "GET ") {
		return auth.RoleViewer
	}
	return auth.RoleDeployer
}
