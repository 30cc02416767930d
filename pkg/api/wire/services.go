package wire

import "github.com/orch-project/orch/pkg/model"

// ServiceResponse answers the /v1/services endpoints: the service (with
// its derived counts), its tasks for GET /v1/services/{name}, and what
// POST /v1/services did (created, configured or unchanged).
type ServiceResponse struct {
	Service *model.Service `json:"service"`
	Tasks   []*model.Task  `json:"tasks,omitempty"`
	Action  string         `json:"action,omitempty"`
}

// ScaleServiceInput is POST /v1/services/{name}/scale.
type ScaleServiceInput struct {
	DesiredCount *int `json:"desiredCount"`
}
