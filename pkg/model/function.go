package model

import (
	"fmt"
	"regexp"
	"strings"
)

// Function limits, as Lambda's CreateFunction enforces them, so that a
// function Lambda accepts is accepted here too.
const (
	MinFunctionMemoryMiB   = 128
	MaxFunctionMemoryMiB   = 10240
	DefaultFunctionMemory  = 128
	MinFunctionTimeout     = 1   // seconds
	MaxFunctionTimeout     = 900 // seconds
	DefaultFunctionTimeout = 3   // seconds
	MaxFunctionEnvBytes    = 4096
	MaxFunctionNameLength  = 64
	// MaxImageURILength bounds Code.ImageUri (an image reference is far
	// shorter); it keeps a function's spec small on the agents' stream,
	// where each invocation carries it (wire.MaxInvocationLine).
	MaxImageURILength     = 2048
	MaxBatchSizeQueue     = 10000
	MaxBatchingWindowSecs = 300
)

var functionNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ValidFunctionName reports whether name is a function name Lambda
// accepts: 1 to MaxFunctionNameLength letters, digits, hyphens or
// underscores (no ARN, no qualifier).
func ValidFunctionName(name string) bool {
	return len(name) <= MaxFunctionNameLength && functionNameRE.MatchString(name)
}

// Function is a Lambda-style function: an image whose entrypoint runs a
// Lambda runtime client (aws-lambda-go's lambda.Start), in the shape of
// Lambda's CreateFunction (PackageType Image).
type Function struct {
	FunctionName                 string            `json:"FunctionName"`
	PackageType                  string            `json:"PackageType,omitempty"` // "Image" (the only one)
	Code                         FunctionCode      `json:"Code"`
	MemorySize                   int               `json:"MemorySize,omitempty"` // MiB
	Timeout                      int               `json:"Timeout,omitempty"`    // seconds
	Environment                  *FunctionEnv      `json:"Environment,omitempty"`
	ReservedConcurrentExecutions *int              `json:"ReservedConcurrentExecutions,omitempty"`
	Tags                         map[string]string `json:"Tags,omitempty"`
	// Role and Description are kept and shown as given (the stock CLI
	// requires --role); Orch's functions act with the cluster's task key.
	Role        string `json:"Role,omitempty"`
	Description string `json:"Description,omitempty"`
	// DeadLetterConfig receives Event invocations that failed every retry.
	DeadLetterConfig *DeadLetterConfig `json:"DeadLetterConfig,omitempty"`
}

// DeadLetterConfig names the queue that gets an Event invocation's payload
// after its last retry failed (Lambda's DeadLetterConfig.TargetArn).
type DeadLetterConfig struct {
	TargetArn string `json:"TargetArn"`
}

// FunctionCode is where the function's code is: an image.
type FunctionCode struct {
	ImageUri string `json:"ImageUri"`
}

// FunctionEnv holds the function's environment variables.
type FunctionEnv struct {
	Variables map[string]string `json:"Variables"`
}

// Reserved environment variable names Lambda does not let a function set.
var reservedFunctionEnv = map[string]bool{
	"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_REGION": true, "AWS_EXECUTION_ENV": true,
	"AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true, "AWS_LAMBDA_FUNCTION_VERSION": true,
	"AWS_LAMBDA_INITIALIZATION_TYPE": true, "AWS_LAMBDA_LOG_GROUP_NAME": true, "AWS_LAMBDA_LOG_STREAM_NAME": true,
	"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	"AWS_LAMBDA_RUNTIME_API": true, "LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
}

// Normalize fills Lambda's defaults: PackageType Image, MemorySize 128,
// Timeout 3.
func (f *Function) Normalize() {
	if f.PackageType == "" {
		f.PackageType = "Image"
	}
	if f.MemorySize == 0 {
		f.MemorySize = DefaultFunctionMemory
	}
	if f.Timeout == 0 {
		f.Timeout = DefaultFunctionTimeout
	}
}

// Validate checks f after Normalize; errors name the field and say how to
// fix it.
func (f *Function) Validate() error {
	var errs FieldErrors
	add := func(path, format string, args ...any) { errs.Add(path, fmt.Sprintf(format, args...)) }
	switch {
	case f.FunctionName == "":
		add("FunctionName", "is required: a name of 1 to %d letters, digits, hyphens or underscores", MaxFunctionNameLength)
	case len(f.FunctionName) > MaxFunctionNameLength || !functionNameRE.MatchString(f.FunctionName):
		add("FunctionName", "%q is invalid: use 1 to %d letters, digits, hyphens or underscores", f.FunctionName, MaxFunctionNameLength)
	}
	if f.PackageType != "Image" {
		add("PackageType", "%q is not supported: Orch runs container images, set PackageType: Image with Code.ImageUri", f.PackageType)
	}
	if strings.TrimSpace(f.Code.ImageUri) == "" {
		add("Code.ImageUri", "is required: the image whose entrypoint starts the Lambda runtime client (e.g. a FROM-scratch aws-lambda-go binary)")
	} else if len(f.Code.ImageUri) > MaxImageURILength {
		add("Code.ImageUri", "is %d bytes long: an image reference takes at most %d", len(f.Code.ImageUri), MaxImageURILength)
	}
	if f.MemorySize < MinFunctionMemoryMiB || f.MemorySize > MaxFunctionMemoryMiB {
		add("MemorySize", "%d MB is out of range: use %d to %d", f.MemorySize, MinFunctionMemoryMiB, MaxFunctionMemoryMiB)
	}
	if f.Timeout < MinFunctionTimeout || f.Timeout > MaxFunctionTimeout {
		add("Timeout", "%d seconds is out of range: use %d to %d", f.Timeout, MinFunctionTimeout, MaxFunctionTimeout)
	}
	if f.ReservedConcurrentExecutions != nil && *f.ReservedConcurrentExecutions < 0 {
		add("ReservedConcurrentExecutions", "%d is negative: use 0 (the function never runs) or more", *f.ReservedConcurrentExecutions)
	}
	if f.DeadLetterConfig != nil && f.DeadLetterConfig.TargetArn != "" &&
		(!strings.HasPrefix(f.DeadLetterConfig.TargetArn, "arn:aws:sqs:") || strings.Count(f.DeadLetterConfig.TargetArn, ":") != 5) {
		add("DeadLetterConfig.TargetArn", "%q is not a queue ARN: use arn:aws:sqs:REGION:ACCOUNT:QUEUE (orch get queues shows it)", f.DeadLetterConfig.TargetArn)
	}
	if f.Environment != nil {
		size := 0
		for k, v := range f.Environment.Variables {
			size += len(k) + len(v)
			path := "Environment.Variables." + k
			switch {
			case !envNameRE.MatchString(k):
				add(path, "%q is not a valid variable name: start with a letter, then letters, digits or underscores", k)
			case reservedFunctionEnv[k]:
				add(path, "%s is reserved: the runtime sets it; choose another name", k)
			}
		}
		if size > MaxFunctionEnvBytes {
			add("Environment.Variables", "the variables take %d bytes: the limit is %d", size, MaxFunctionEnvBytes)
		}
	}
	return errs.Err()
}

var envNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// EventSourceMapping connects a queue to a function, in the shape of
// Lambda's CreateEventSourceMapping.
type EventSourceMapping struct {
	UUID                           string         `json:"UUID,omitempty"`
	EventSourceArn                 string         `json:"EventSourceArn"`
	FunctionName                   string         `json:"FunctionName"`
	BatchSize                      int            `json:"BatchSize,omitempty"`
	MaximumBatchingWindowInSeconds int            `json:"MaximumBatchingWindowInSeconds,omitempty"`
	FunctionResponseTypes          []string       `json:"FunctionResponseTypes,omitempty"`
	ScalingConfig                  *ScalingConfig `json:"ScalingConfig,omitempty"`
	Enabled                        *bool          `json:"Enabled,omitempty"`
}

// ScalingConfig caps the concurrent invocations a queue mapping makes.
type ScalingConfig struct {
	MaximumConcurrency int `json:"MaximumConcurrency"`
}

// Normalize fills Lambda's defaults: BatchSize 10, Enabled true.
func (m *EventSourceMapping) Normalize() {
	if m.BatchSize == 0 {
		m.BatchSize = 10
	}
	if m.Enabled == nil {
		t := true
		m.Enabled = &t
	}
}

// Validate checks m after Normalize, with Lambda's rules for SQS sources.
func (m *EventSourceMapping) Validate() error {
	var errs FieldErrors
	add := func(path, format string, args ...any) { errs.Add(path, fmt.Sprintf(format, args...)) }
	if !strings.HasPrefix(m.EventSourceArn, "arn:aws:sqs:") || strings.Count(m.EventSourceArn, ":") != 5 {
		add("EventSourceArn", "%q is not a queue ARN: use arn:aws:sqs:REGION:ACCOUNT:QUEUE (orch get queues shows it)", m.EventSourceArn)
	}
	if m.FunctionName == "" {
		add("FunctionName", "is required: the function's name or ARN")
	}
	if m.BatchSize < 1 || m.BatchSize > MaxBatchSizeQueue {
		add("BatchSize", "%d is out of range: use 1 to %d", m.BatchSize, MaxBatchSizeQueue)
	}
	if m.BatchSize > 10 && m.MaximumBatchingWindowInSeconds < 1 {
		add("MaximumBatchingWindowInSeconds", "must be at least 1 when BatchSize (%d) is over 10", m.BatchSize)
	}
	if m.MaximumBatchingWindowInSeconds < 0 || m.MaximumBatchingWindowInSeconds > MaxBatchingWindowSecs {
		add("MaximumBatchingWindowInSeconds", "%d is out of range: use 0 to %d", m.MaximumBatchingWindowInSeconds, MaxBatchingWindowSecs)
	}
	for i, t := range m.FunctionResponseTypes {
		if t != "ReportBatchItemFailures" {
			add(fmt.Sprintf("FunctionResponseTypes[%d]", i), "%q is not supported: the only value is ReportBatchItemFailures", t)
		}
	}
	if m.ScalingConfig != nil && (m.ScalingConfig.MaximumConcurrency < 2 || m.ScalingConfig.MaximumConcurrency > 1000) {
		add("ScalingConfig.MaximumConcurrency", "%d is out of range: use 2 to 1000", m.ScalingConfig.MaximumConcurrency)
	}
	return errs.Err()
}

// CheckVisibility applies Lambda's rule for queue sources: the queue's
// visibility timeout must be at least the function's timeout, or a batch
// would reappear (and run twice) while the function still works on it.
func (m *EventSourceMapping) CheckVisibility(functionTimeoutSecs, queueVisibilitySecs int) error {
	if functionTimeoutSecs > queueVisibilitySecs {
		return FieldErrors{{Path: "FunctionName", Message: fmt.Sprintf(
			"Queue visibility timeout: %d seconds is less than Function timeout: %d seconds: raise the queue's VisibilityTimeout to at least %d (AWS recommends 6x the function timeout) or lower the function's Timeout",
			queueVisibilitySecs, functionTimeoutSecs, functionTimeoutSecs)}}
	}
	return nil
}

// ReportsBatchItemFailures says whether the function's response lists the
// failed records (partial batch responses).
func (m *EventSourceMapping) ReportsBatchItemFailures() bool {
	for _, t := range m.FunctionResponseTypes {
		if t == "ReportBatchItemFailures" {
			return true
		}
	}
	return false
}
