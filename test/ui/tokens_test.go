package ui_test

import (
	"context"
	"strings"
	"testing"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
)

// TestViewerTokenReadsOnly: a token minted with POST /v1/tokens for the
// viewer role reads the API and changes nothing; only admins mint tokens.
func TestViewerTokenReadsOnly(t *testing.T) {
	cp := testutil.StartServer(t)
	ctx := context.Background()
	if _, err := cp.Admin.NewToken(ctx, "root", ""); err == nil || !strings.Contains(err.Error(), `role: role "root": a user token's role is admin, deployer or viewer`) {
		t.Errorf("mint a root token: %v; want a 400 naming the roles", err)
	}
	tok, err := cp.Admin.NewToken(ctx, "viewer", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Role != "viewer" || tok.Name != "alice" || !strings.HasPrefix(tok.Token, "orchvie_") {
		t.Errorf("minted %+v", tok)
	}
	viewer := client.New(client.Config{Servers: []string{cp.URL}, Token: tok.Token})
	if _, err := viewer.ListTasks(ctx, nil); err != nil {
		t.Errorf("viewer lists tasks: %v", err)
	}
	if _, err := viewer.ListNodes(ctx); err != nil {
		t.Errorf("viewer lists nodes: %v", err)
	}
	if _, err := viewer.ListServices(ctx); err != nil {
		t.Errorf("viewer lists services: %v", err)
	}
	_, err = viewer.Apply(ctx, []wire.ApplyDocument{{Kind: "TaskDefinition", Spec: []byte(`{"family":"x","containerDefinitions":[{"name":"a","image":"fake","memory":16}]}`)}})
	if err == nil || !strings.Contains(err.Error(), "a viewer token may only read") {
		t.Errorf("viewer applies: %v; want 403", err)
	}
	if _, err := viewer.NewToken(ctx, "admin", "mallory"); err == nil || !strings.Contains(err.Error(), "a viewer token may only read") {
		t.Errorf("viewer mints an admin token: %v; want 403", err)
	}
}
