package wire

// Usage is GET /v1/usage: what a serverless and a Fargate-style bill are
// based on. Functions are metered by the server answering (in memory,
// since it started); tasks are computed from the tasks the cluster still
// records (running ones and stopped ones within their retention).
type Usage struct {
	Functions []FunctionUsage `json:"functions"`
	Services  []ServiceUsage  `json:"services"`
	Tasks     []TaskUsage     `json:"tasks"`
}

// FunctionUsage is one function's invocations and billed duration.
type FunctionUsage struct {
	Function    string  `json:"function"`
	Invocations int64   `json:"invocations"`
	Errors      int64   `json:"errors"`
	Throttles   int64   `json:"throttles"`
	ColdStarts  int64   `json:"coldStarts"`
	P50Ms       float64 `json:"p50Ms"`
	P99Ms       float64 `json:"p99Ms"`
	BilledMs    int64   `json:"billedMs"`
	GBSeconds   float64 `json:"gbSeconds"`
	// MaxMemoryUsedMB is the highest Max Memory Used reported (0: unknown).
	MaxMemoryUsedMB int `json:"maxMemoryUsedMB"`
}

// ServiceUsage sums a service's tasks ("" service: standalone tasks).
type ServiceUsage struct {
	Service     string  `json:"service"`
	Tasks       int     `json:"tasks"`
	VCPUSeconds float64 `json:"vcpuSeconds"`
	GBSeconds   float64 `json:"gbSeconds"`
}

// TaskUsage is one task's billed time and resources.
type TaskUsage struct {
	TaskID      string  `json:"taskId"`
	Service     string  `json:"service,omitempty"`
	Family      string  `json:"family"`
	Running     bool    `json:"running"`
	Seconds     float64 `json:"seconds"`
	VCPUSeconds float64 `json:"vcpuSeconds"`
	GBSeconds   float64 `json:"gbSeconds"`
}
