package api

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

// Issue 12 item 4: RunTask answered a bare 500 ("etcdserver: request timed
// out") although its tasks were committed. A write whose outcome is
// unknown is a 503 that says so and how to retry safely.
func TestOutcomeUnknownIsNotA500(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("%w: store: create tasks: etcdserver: request timed out", model.ErrOutcomeUnknown),
		fmt.Errorf("store: read: %w", context.DeadlineExceeded),
	} {
		rec := httptest.NewRecorder()
		writeError(rec, err)
		if rec.Code != 503 {
			t.Errorf("%v: status %d, want 503", err, rec.Code)
		}
		if errors.Is(err, model.ErrOutcomeUnknown) && !strings.Contains(rec.Body.String(), "may or may not have been applied") {
			t.Errorf("%v: %s; want it to say the outcome is unknown", err, rec.Body.String())
		}
	}
}
