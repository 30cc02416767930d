package wire

import "github.com/orch-project/orch/pkg/model"

// Task watch stream event types.
const (
	TaskEventState   = "task"    // Task is the task's current state
	TaskEventDeleted = "deleted" // TaskID's record was deleted
	TaskEventPing    = "ping"    // keep-alive, no content
)

// TaskEvent is one line of GET /v1/tasks/watch?ids=ID,...: an NDJSON
// stream with each task's current state first, then one line per change.
type TaskEvent struct {
	Type   string      `json:"type"`
	Task   *model.Task `json:"task,omitempty"`
	TaskID string      `json:"taskId,omitempty"`
}
