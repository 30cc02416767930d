package controller_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// in-process clusters these tests start (server, caches, reconcilers,
// agents) must stop completely when closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
