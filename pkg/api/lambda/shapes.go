package lambda

import (
	"github.com/orch-project/orch/pkg/model"
)

// functionConfiguration is Lambda's FunctionConfiguration.
type functionConfiguration struct {
	FunctionName     string                  `json:"FunctionName"`
	FunctionArn      string                  `json:"FunctionArn"`
	Role             string                  `json:"Role,omitempty"`
	Description      string                  `json:"Description"`
	Timeout          int                     `json:"Timeout"`
	MemorySize       int                     `json:"MemorySize"`
	LastModified     string                  `json:"LastModified"`
	CodeSha256       string                  `json:"CodeSha256"`
	CodeSize         int64                   `json:"CodeSize"`
	Version          string                  `json:"Version"`
	Environment      *environmentResponse    `json:"Environment,omitempty"`
	DeadLetterConfig *model.DeadLetterConfig `json:"DeadLetterConfig,omitempty"`
	RevisionId       string                  `json:"RevisionId"`
	PackageType      string                  `json:"PackageType"`
	State            string                  `json:"State"`
	LastUpdateStatus string                  `json:"LastUpdateStatus"`
	Architectures    []string                `json:"Architectures"`
	EphemeralStorage map[string]int          `json:"EphemeralStorage"`
}

type environmentResponse struct {
	Variables map[string]string `json:"Variables"`
}

// lambdaTime is Lambda's LastModified format (ISO 8601 with +0000).
const lambdaTime = "2006-01-02T15:04:05.000-0700"

func configOf(f *model.StoredFunction) functionConfiguration {
	c := functionConfiguration{
		FunctionName: f.FunctionName, FunctionArn: f.FunctionArn, Role: f.Role, Description: f.Description,
		Timeout: f.Timeout, MemorySize: f.MemorySize, LastModified: f.LastModified.UTC().Format(lambdaTime),
		CodeSha256: f.CodeSha256, Version: "$LATEST", DeadLetterConfig: f.DeadLetterConfig, RevisionId: f.RevisionId,
		PackageType: f.PackageType, State: "Active", LastUpdateStatus: "Successful", Architectures: []string{"x86_64"},
		EphemeralStorage: map[string]int{"Size": 512},
	}
	if f.Environment != nil && len(f.Environment.Variables) > 0 {
		c.Environment = &environmentResponse{Variables: f.Environment.Variables}
	}
	return c
}

// getFunctionResponse is GetFunction's answer.
type getFunctionResponse struct {
	Configuration functionConfiguration `json:"Configuration"`
	Code          map[string]string     `json:"Code"`
	Tags          map[string]string     `json:"Tags,omitempty"`
	Concurrency   *concurrency          `json:"Concurrency,omitempty"`
}

type concurrency struct {
	ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions,omitempty"`
}

// functionInput is CreateFunction's and UpdateFunctionConfiguration's
// request: the fields Orch uses, plus the ones it refuses with a reason.
type functionInput struct {
	FunctionName     string                  `json:"FunctionName"`
	Role             *string                 `json:"Role"`
	Description      *string                 `json:"Description"`
	PackageType      string                  `json:"PackageType"`
	Code             *codeInput              `json:"Code"`
	MemorySize       *int                    `json:"MemorySize"`
	Timeout          *int                    `json:"Timeout"`
	Environment      *model.FunctionEnv      `json:"Environment"`
	DeadLetterConfig *model.DeadLetterConfig `json:"DeadLetterConfig"`
	Tags             map[string]string       `json:"Tags"`
	Runtime          string                  `json:"Runtime"`
	Handler          string                  `json:"Handler"`
}

type codeInput struct {
	ImageUri string `json:"ImageUri"`
	ZipFile  []byte `json:"ZipFile"`
	S3Bucket string `json:"S3Bucket"`
}

// mappingConfiguration is Lambda's EventSourceMappingConfiguration.
type mappingConfiguration struct {
	UUID                           string               `json:"UUID"`
	EventSourceArn                 string               `json:"EventSourceArn"`
	FunctionArn                    string               `json:"FunctionArn"`
	BatchSize                      int                  `json:"BatchSize"`
	MaximumBatchingWindowInSeconds int                  `json:"MaximumBatchingWindowInSeconds"`
	FunctionResponseTypes          []string             `json:"FunctionResponseTypes,omitempty"`
	ScalingConfig                  *model.ScalingConfig `json:"ScalingConfig,omitempty"`
	State                          string               `json:"State"`
	StateTransitionReason          string               `json:"StateTransitionReason"`
	LastModified                   float64              `json:"LastModified"` // epoch seconds (a REST-JSON timestamp)
}

func mappingOf(m *model.StoredMapping) mappingConfiguration {
	return mappingConfiguration{
		UUID: m.UUID, EventSourceArn: m.EventSourceArn, FunctionArn: m.FunctionArn, BatchSize: m.BatchSize,
		MaximumBatchingWindowInSeconds: m.MaximumBatchingWindowInSeconds, FunctionResponseTypes: m.FunctionResponseTypes,
		ScalingConfig: m.ScalingConfig, State: m.State, StateTransitionReason: "USER_INITIATED",
		LastModified: float64(m.LastModified.UnixMilli()) / 1000,
	}
}

// mappingInput is Create/UpdateEventSourceMapping's request.
type mappingInput struct {
	EventSourceArn                 *string              `json:"EventSourceArn"`
	FunctionName                   *string              `json:"FunctionName"`
	BatchSize                      *int                 `json:"BatchSize"`
	MaximumBatchingWindowInSeconds *int                 `json:"MaximumBatchingWindowInSeconds"`
	FunctionResponseTypes          *[]string            `json:"FunctionResponseTypes"`
	ScalingConfig                  *model.ScalingConfig `json:"ScalingConfig"`
	Enabled                        *bool                `json:"Enabled"`
}
