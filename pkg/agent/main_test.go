package agent

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// task goroutine, stream and reporter must stop when its agent stops.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
