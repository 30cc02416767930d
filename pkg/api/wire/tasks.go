package wire

import "github.com/orch-project/orch/pkg/model"

// RunTaskInput is POST /v1/tasks: ECS RunTask's input (the parts Orch
// acts on), which is also the domain's input.
type RunTaskInput = model.RunTaskInput

// StopTaskInput is POST /v1/tasks/{id}/stop.
type StopTaskInput struct {
	Reason string `json:"reason,omitempty"`
}
