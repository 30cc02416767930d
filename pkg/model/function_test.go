package model

import (
	"errors"
	"strings"
	"testing"
)

func validFunction() Function {
	f := Function{FunctionName: "receipts", Code: FunctionCode{ImageUri: "orch-example/receipt:latest"}}
	f.Normalize()
	return f
}

func TestFunctionDefaultsAreLambdas(t *testing.T) {
	f := validFunction()
	if f.PackageType != "Image" || f.MemorySize != 128 || f.Timeout != 3 {
		t.Fatalf("defaults %+v, want Image, 128 MB, 3 s", f)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFunctionValidationNamesTheField(t *testing.T) {
	neg := -1
	cases := []struct {
		name   string
		mutate func(*Function)
		path   string
		hint   string
	}{
		{"no name", func(f *Function) { f.FunctionName = "" }, "FunctionName", "is required"},
		{"bad name", func(f *Function) { f.FunctionName = "a b" }, "FunctionName", "letters, digits"},
		{"zip", func(f *Function) { f.PackageType = "Zip" }, "PackageType", "PackageType: Image"},
		{"no image", func(f *Function) { f.Code.ImageUri = "" }, "Code.ImageUri", "is required"},
		{"image too long", func(f *Function) { f.Code.ImageUri = strings.Repeat("x", 2049) }, "Code.ImageUri", "at most 2048"},
		{"memory", func(f *Function) { f.MemorySize = 64 }, "MemorySize", "use 128 to 10240"},
		{"timeout", func(f *Function) { f.Timeout = 901 }, "Timeout", "use 1 to 900"},
		{"concurrency", func(f *Function) { f.ReservedConcurrentExecutions = &neg }, "ReservedConcurrentExecutions", "negative"},
		{"reserved env", func(f *Function) {
			f.Environment = &FunctionEnv{Variables: map[string]string{"AWS_LAMBDA_RUNTIME_API": "x"}}
		}, "Environment.Variables.AWS_LAMBDA_RUNTIME_API", "reserved"},
		{"env name", func(f *Function) { f.Environment = &FunctionEnv{Variables: map[string]string{"1X": "x"}} }, "Environment.Variables.1X", "valid variable name"},
		{"env size", func(f *Function) {
			f.Environment = &FunctionEnv{Variables: map[string]string{"BIG": strings.Repeat("x", 5000)}}
		}, "Environment.Variables", "limit is 4096"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := validFunction()
			c.mutate(&f)
			err := f.Validate()
			var fe FieldErrors
			if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Path != c.path || !strings.Contains(fe[0].Message, c.hint) {
				t.Fatalf("got %v, want one error at %s saying %q", err, c.path, c.hint)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatal("validation errors must be ErrInvalid")
			}
		})
	}
}

func TestEventSourceMappingValidation(t *testing.T) {
	m := EventSourceMapping{EventSourceArn: "arn:aws:sqs:us-east-1:000000000000:orders", FunctionName: "receipts", FunctionResponseTypes: []string{"ReportBatchItemFailures"}}
	m.Normalize()
	if m.BatchSize != 10 || m.Enabled == nil || !*m.Enabled || !m.ReportsBatchItemFailures() {
		t.Fatalf("defaults %+v", m)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := EventSourceMapping{EventSourceArn: "orders", BatchSize: 50, FunctionResponseTypes: []string{"Nope"}, ScalingConfig: &ScalingConfig{MaximumConcurrency: 1}}
	bad.Normalize()
	err := bad.Validate()
	for _, want := range []string{"EventSourceArn: \"orders\" is not a queue ARN", "FunctionName: is required", "MaximumBatchingWindowInSeconds: must be at least 1 when BatchSize (50)", "FunctionResponseTypes[0]: \"Nope\"", "ScalingConfig.MaximumConcurrency: 1 is out of range"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
}

func TestVisibilityTimeoutMustCoverTheFunctionTimeout(t *testing.T) {
	var m EventSourceMapping
	if err := m.CheckVisibility(30, 30); err != nil {
		t.Fatalf("equal timeouts are allowed: %v", err)
	}
	err := m.CheckVisibility(60, 30)
	if err == nil || !strings.Contains(err.Error(), "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds") {
		t.Fatalf("got %v, want Lambda's reason", err)
	}
}
