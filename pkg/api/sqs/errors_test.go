package sqs

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/orch-project/orch/pkg/api/awsauth"
	"github.com/orch-project/orch/pkg/queue"
)

func TestEveryKindHasAnSQSCode(t *testing.T) {
	// KindNoSuchResource is the last kind; extend the range with new kinds.
	for k := queue.KindInternal; k <= queue.KindNoSuchResource; k++ {
		if _, ok := codes[k]; !ok {
			t.Errorf("queue kind %v (%d) has no SQS code in codes", k, int(k))
		}
	}
}

func TestToWire(t *testing.T) {
	tests := []struct {
		name               string
		err                error
		code, query, fault string
		status             int
	}{
		{"missing queue", queue.ErrQueueDoesNotExist, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "Sender", http.StatusBadRequest},
		{"wrapped, with its own message", fmt.Errorf("sending: %w", queue.ErrPurgeQueueInProgress.With("not yet")), "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", "Sender", http.StatusForbidden},
		{"not the owner", queue.ErrNotOwner, "ServiceUnavailable", "ServiceUnavailable", "Receiver", http.StatusServiceUnavailable},
		{"anything else", errors.New("disk on fire"), "InternalError", "InternalError", "Receiver", http.StatusInternalServerError},
		{"SigV4", &awsauth.Error{Code: "SignatureDoesNotMatch", Status: 403, Message: "no"}, "SignatureDoesNotMatch", "SignatureDoesNotMatch", "Sender", http.StatusForbidden},
		{"protocol", errInvalidAction("Frobnicate"), "InvalidAction", "InvalidAction", "Sender", http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := toWire(tc.err)
			if e.Code != tc.code || e.Query() != tc.query || e.Fault() != tc.fault || e.HTTPStatus() != tc.status {
				t.Fatalf("toWire(%v) = %s/%s/%s/%d, want %s/%s/%s/%d", tc.err, e.Code, e.Query(), e.Fault(), e.HTTPStatus(),
					tc.code, tc.query, tc.fault, tc.status)
			}
		})
	}
}
