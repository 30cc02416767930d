// Command receipt is an AWS Lambda handler written exactly as for AWS
// (github.com/aws/aws-lambda-go, lambda.Start), built FROM scratch by
// scripts/build-images.sh as orch-example/receipt. Orch runs it unchanged.
//
// Triggered by the coffee shop's orders queue (an SQS event), it prints one
// receipt line per order and reports the records it cannot read as batch
// item failures (ReportBatchItemFailures), so only those reappear; with
// RECEIPT_QUIET=1 in its environment it checks every order but prints
// nothing (the queue trigger's throughput benchmark: a handler doing what
// the raw queue consumers it is compared with do, without a log line per
// message through Docker's log driver). Invoked
// directly, it answers {"receipt": ...} for an order, and a few knobs make it
// the test handler for the failure paths:
//
//	{"sleepMs": 50}        sleep before answering (timeouts, concurrency)
//	{"panic": "why"}       panic (the runtime reports it and exits)
//	{"fail": "why"}        return an error
//	{"exit": 3}            exit the process without answering
//	{"echo": ANY}          answer ANY
//	{"allocMB": 64}        touch that much memory first (Max Memory Used)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// inflight counts concurrent invocations in this process; answers carry the
// peak so tests can see several invocations overlap in one environment.
var inflight, peak atomic.Int64

// allocated keeps an allocMB buffer reachable until every page is written.
var allocated atomic.Pointer[[]byte]

type order struct {
	ID       string  `json:"id"`
	Customer string  `json:"customer"`
	Drink    string  `json:"drink"`
	Price    float64 `json:"price"`
}

type request struct {
	Records []json.RawMessage `json:"Records"`
	SleepMs int               `json:"sleepMs"`
	Panic   string            `json:"panic"`
	Fail    string            `json:"fail"`
	Exit    *int              `json:"exit"`
	Echo    json.RawMessage   `json:"echo"`
	AllocMB int               `json:"allocMB"`
	order
}

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	n := inflight.Add(1)
	defer inflight.Add(-1)
	for {
		p := peak.Load()
		if n <= p || peak.CompareAndSwap(p, n) {
			break
		}
	}
	var req request
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, fmt.Errorf("the event is not a JSON object: %w", err)
	}
	if len(req.Records) > 0 {
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("the event is not an SQS event: %w", err)
		}
		return receipts(ev), nil
	}
	if req.AllocMB > 0 {
		// Write every page so it is resident (and counted by the
		// environment's memory cgroup), then let it go.
		b := make([]byte, req.AllocMB<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		allocated.Store(&b)
		allocated.Store(nil)
	}
	if req.SleepMs > 0 {
		// Ignore ctx like a careless handler: the platform, not the
		// handler, must enforce the timeout.
		time.Sleep(time.Duration(req.SleepMs) * time.Millisecond)
	}
	switch {
	case req.Panic != "":
		panic(req.Panic)
	case req.Fail != "":
		return nil, errors.New(req.Fail)
	case req.Exit != nil:
		os.Exit(*req.Exit)
	case req.Echo != nil:
		return req.Echo, nil
	}
	lc, _ := lambdacontext.FromContext(ctx)
	id := ""
	if lc != nil {
		id = lc.AwsRequestID
	}
	return map[string]any{
		"receipt":   receipt(req.order),
		"requestId": id,
		"function":  lambdacontext.FunctionName,
		"memoryMB":  lambdacontext.MemoryLimitInMB,
		"peak":      peak.Load(),
		"pid":       os.Getpid(),
	}, nil
}

func receipt(o order) string {
	return fmt.Sprintf("RECEIPT order=%s customer=%s drink=%s total=%.2f", o.ID, o.Customer, o.Drink, o.Price)
}

// quiet: RECEIPT_QUIET=1, no line per order (see the package comment).
var quiet = os.Getenv("RECEIPT_QUIET") == "1"

// receipts prints a receipt per order and reports the records that are not
// orders as failures, so the event source deletes only the others.
func receipts(ev events.SQSEvent) events.SQSEventResponse {
	var resp events.SQSEventResponse
	for _, rec := range ev.Records {
		var o order
		if err := json.Unmarshal([]byte(rec.Body), &o); err != nil || o.ID == "" {
			fmt.Printf("REJECT message=%s: not an order (want {\"id\":...})\n", rec.MessageId)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			continue
		}
		if !quiet {
			fmt.Println(receipt(o))
		}
	}
	return resp
}

func main() {
	lambda.Start(handle)
}
