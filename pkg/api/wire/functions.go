package wire

import (
	"encoding/json"

	"github.com/orch-project/orch/pkg/model"
)

// Function invocations travel server -> agent on a stream the agent opens
// (GET /v1/agent/nodes/{name}/invocations, NDJSON of InvocationEvent) and
// their results come back in batches, POST
// /v1/agent/nodes/{name}/invocation-results (InvocationResults: whatever
// finished while the previous batch was on its way, so one request under
// load carries many results and an idle agent sends each at once), or one
// by one as POST /v1/agent/nodes/{name}/invocations/{id} (older agents).

// Invocation event types.
const (
	InvocationInvoke = "invoke"
	InvocationPing   = "ping"
	// InvocationDelete tells the agent the function (FunctionName) was
	// deleted: stop its environments now rather than at the idle timeout.
	InvocationDelete = "delete"
)

// MaxInvocationLine bounds one line of the invocation stream, for the
// server and the agent alike. The longest line a server makes is an
// invoke with a RequestResponse payload at Lambda's 6 MB limit
// (model.SyncMaxPayload: 8 MiB in base64) and its function's spec (an
// environment of at most 4 KB, which JSON escaping can grow six-fold, and
// short names): 9 MiB holds it with room to spare. A server sends no
// longer line (it fails that invocation instead), and an agent answers a
// longer one as that invocation's error (InvokeErrTooLarge) and reads on.
const MaxInvocationLine = 9 << 20

// FunctionSpec is what an agent needs to run a function's environments.
// Revision changes with every update: environments of an older one are
// replaced.
type FunctionSpec struct {
	Name                string            `json:"name"`
	ARN                 string            `json:"arn"`
	Image               string            `json:"image"`
	MemoryMiB           int               `json:"memoryMiB"`
	TimeoutSec          int               `json:"timeoutSec"`
	Env                 map[string]string `json:"env,omitempty"`
	ReservedConcurrency int               `json:"reservedConcurrency,omitempty"`
	Revision            string            `json:"revision"`
}

// InvocationEvent is one line of the invocation stream.
type InvocationEvent struct {
	Type string `json:"type"`
	// FunctionName names the deleted function of a delete event.
	FunctionName string        `json:"functionName,omitempty"`
	RequestID    string        `json:"requestId,omitempty"`
	Function     *FunctionSpec `json:"function,omitempty"`
	Payload      []byte        `json:"payload,omitempty"`
	// Tail asks for the output the invocation wrote (LogType Tail).
	Tail bool `json:"tail,omitempty"`

	// Unreadable is set by the agent's client, never sent: why a line of
	// the stream could not be taken as an event (it is malformed, or
	// longer than MaxInvocationLine: TooLarge). RequestID is then the
	// invocation's when it could be read from the line, for the agent to
	// answer it with that error; the stream goes on.
	Unreadable string `json:"-"`
	TooLarge   bool   `json:"-"`
}

// Agent-side failure kinds of an InvocationResult (the handler never ran
// or did not finish for a reason outside the handler).
const (
	InvokeErrThrottled = "throttled" // the agent's environments are all busy
	InvokeErrInit      = "init"      // the environment failed to start or initialise
	InvokeErrAgent     = "agent"     // anything else on the agent
	// InvokeErrStopping: the agent is stopping and did not run it; the
	// server places it on another agent and sends this one no more.
	InvokeErrStopping = "stopping"
	// InvokeErrTooLarge: the invocation's line on the stream was over
	// MaxInvocationLine; InvokeErrBadFrame: it could not be decoded.
	// The handler did not run.
	InvokeErrTooLarge = "tooLarge"
	InvokeErrBadFrame = "badFrame"
)

// InvocationResult is an agent's answer to one invocation.
type InvocationResult struct {
	// RequestID names the invocation in a batch (the one-by-one POST has
	// it in its path).
	RequestID      string  `json:"requestId,omitempty"`
	Payload        []byte  `json:"payload,omitempty"`
	FunctionError  string  `json:"functionError,omitempty"` // Unhandled | Handled
	ErrorType      string  `json:"errorType,omitempty"`
	DurationMs     float64 `json:"durationMs"`
	InitDurationMs float64 `json:"initDurationMs,omitempty"`
	// MaxMemoryMB is the environment's peak memory so far (0: unknown).
	MaxMemoryMB int `json:"maxMemoryMB,omitempty"`
	// Environments is how many environments the function has on the
	// agent after this invocation (the dashboard's "warm").
	Environments int `json:"environments,omitempty"`
	// Report is the invocation's REPORT line.
	Report string `json:"report,omitempty"`
	// Logs is the output the invocation wrote (when Tail was asked).
	Logs []byte `json:"logs,omitempty"`
	// ErrorKind and Error describe a failure outside the handler.
	ErrorKind string `json:"errorKind,omitempty"`
	Error     string `json:"error,omitempty"`
}

// InvocationResults is a batch of results (each with its RequestID).
type InvocationResults struct {
	Results []InvocationResult `json:"results"`
}

// Function is a function as /v1/functions shows it.
type Function struct {
	model.StoredFunction
	// Inflight is the invocations running now (through this server).
	Inflight int `json:"Inflight"`
}

// FunctionList answers GET /v1/functions.
type FunctionList struct {
	Functions []Function `json:"functions"`
}

// InvokeRequest is POST /v1/functions/{name}/invoke (orch invoke).
type InvokeRequest struct {
	Payload json.RawMessage `json:"payload,omitempty"`
	Type    string          `json:"type,omitempty"` // RequestResponse (default), Event, DryRun
	Log     bool            `json:"log,omitempty"`  // return the invocation's log (LogType Tail)
}

// InvokeResponse answers it.
type InvokeResponse struct {
	RequestID     string          `json:"requestId"`
	StatusCode    int             `json:"statusCode"`
	FunctionError string          `json:"functionError,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	RawPayload    string          `json:"rawPayload,omitempty"` // an answer that is not JSON
	Logs          string          `json:"logs,omitempty"`
	Node          string          `json:"node,omitempty"`
	DurationMs    float64         `json:"durationMs,omitempty"`
}
