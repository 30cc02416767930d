package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// Two admin tokens revoked at the same moment: one revocation wins, the
// other is refused as the last admin token, whatever the interleaving
// (a deleted token leaves nothing for a prefix comparison to see, so
// both used to pass and the cluster lost its last admin token).
func TestConcurrentRevocationsKeepTheLastAdminToken(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	for round := range 20 {
		names := []string{fmt.Sprintf("a-%d", round), fmt.Sprintf("b-%d", round)}
		for _, n := range names {
			if _, err := st.CreateToken(ctx, "orchadm_"+n+"-secret-value", auth.RoleAdmin, n, "test", nil); err != nil {
				t.Fatal(err)
			}
		}
		// Leave exactly these two admin tokens (the last round's survivor
		// goes now that there are others).
		for _, tk := range adminTokens(t, st) {
			if tk.Name != names[0] && tk.Name != names[1] {
				if _, err := st.RevokeToken(ctx, tk.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i, n := range names {
			wg.Go(func() {
				<-start
				_, errs[i] = st.RevokeToken(ctx, n)
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, model.ErrConflict):
				t.Fatalf("round %d: revoke: %v", round, err)
			}
		}
		if left := adminTokens(t, st); ok != 1 || len(left) != 1 {
			t.Fatalf("round %d: %d of 2 concurrent revocations succeeded (%v), %d admin tokens left; want 1 and 1", round, ok, errs, len(left))
		}
	}
}

func adminTokens(t *testing.T, st *store.Store) []model.TokenMeta {
	t.Helper()
	toks, err := st.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var admins []model.TokenMeta
	for _, tk := range toks {
		if tk.Role == string(auth.RoleAdmin) {
			admins = append(admins, tk)
		}
	}
	return admins
}
