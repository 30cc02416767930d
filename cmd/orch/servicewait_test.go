package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// A --wait cut short by Ctrl-C says it was interrupted; only a timeout that
// ran out says "not steady after".
func TestWaitServicesInterruptedVersusTimeout(t *testing.T) {
	n := 2
	svc := &model.Service{ServiceName: "web", DesiredCount: &n, Deployments: []model.Deployment{{
		ID: "ecs-svc/1", Status: model.DeploymentPrimary, TaskDefinition: "web:1", DesiredCount: n, RolloutState: "IN_PROGRESS",
	}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(wire.ServiceResponse{Service: svc})
	}))
	defer srv.Close()
	c := client.New(client.Config{Servers: []string{srv.URL}, Token: "t"})

	err := waitServices(context.Background(), c, []string{"web"}, io.Discard, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "service/web: not steady after 300ms") {
		t.Fatalf("timeout: got %v, want service/web: not steady after 300ms", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	err = waitServices(ctx, c, []string{"web"}, io.Discard, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "service/web: interrupted before it was steady") {
		t.Fatalf("Ctrl-C: got %v, want service/web: interrupted before it was steady", err)
	}
}
