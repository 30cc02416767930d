package manifest_test

import (
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/manifest"
	"github.com/orch-project/orch/pkg/model"
)

var functionDecoder = manifest.NewDecoder(manifest.FunctionKind, manifest.EventSourceMappingKind)

func TestFunctionKinds(t *testing.T) {
	docs, err := functionDecoder.Parse("fn.yaml", []byte(`kind: Function
FunctionName: receipt
Code: {ImageUri: orch-example/receipt:latest}
Role: arn:aws:iam::000000000000:role/any
Architectures: [x86_64]
ReservedConcurrentExecutions: 8
---
kind: EventSourceMapping
FunctionName: receipt
EventSourceArn: arn:aws:sqs:us-east-1:000000000000:orders
FunctionResponseTypes: [ReportBatchItemFailures]
`))
	if err != nil {
		t.Fatal(err)
	}
	f := docs[0].Object.(*model.Function)
	if f.PackageType != "Image" || f.MemorySize != 128 || f.Timeout != 3 || *f.ReservedConcurrentExecutions != 8 {
		t.Errorf("function: %+v (defaults Image, 128 MB, 3 s)", f)
	}
	m := docs[1].Object.(*model.EventSourceMapping)
	if m.BatchSize != 10 || !*m.Enabled || !m.ReportsBatchItemFailures() {
		t.Errorf("mapping: %+v (defaults BatchSize 10, Enabled)", m)
	}
}

func TestFunctionKindErrorsHaveLinesAndPaths(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"memory", "kind: Function\nFunctionName: f\nCode: {ImageUri: img}\nMemorySize: 64\n",
			"fn.yaml:4:13: MemorySize: 64 MB is out of range: use 128 to 10240"},
		{"reserved env", "kind: Function\nFunctionName: f\nCode: {ImageUri: img}\nEnvironment:\n  Variables:\n    AWS_REGION: x\n",
			"Environment.Variables.AWS_REGION: AWS_REGION is reserved"},
		{"dead letter", "kind: Function\nFunctionName: f\nCode: {ImageUri: img}\nDeadLetterConfig: {TargetArn: orders}\n",
			`DeadLetterConfig.TargetArn: "orders" is not a queue ARN`},
		{"mapping source", "kind: EventSourceMapping\nFunctionName: f\nEventSourceArn: orders\n",
			`fn.yaml:3:17: EventSourceArn: "orders" is not a queue ARN`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := functionDecoder.Parse("fn.yaml", []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
