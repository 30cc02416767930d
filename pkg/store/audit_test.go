package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testutil"
	"github.com/orch-project/orch/pkg/model"
)

// The audit log keeps at most MaxEntries, none older than MaxAge, and
// pages newest first.
func TestAuditLogRetentionAndPaging(t *testing.T) {
	st := openTest(t)
	a := st.NewAuditLog(testutil.Logger())
	a.MaxEntries = 25
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	old := time.Now().Add(-40 * 24 * time.Hour)
	a.Record(model.AuditEntry{Time: old, Actor: "ancient", Method: "POST", Path: "/v1/apply"})
	for i := range 40 {
		a.Record(model.AuditEntry{Actor: fmt.Sprintf("a%02d", i), Method: "POST", Path: "/v1/apply"})
	}
	cancel() // flushes what is queued
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	all, _, err := a.List(context.Background(), "", 1000, "")
	if err != nil || len(all) != 41 {
		t.Fatalf("before pruning: %d entries, %v; want 41", len(all), err)
	}
	if all[0].Actor != "a39" || all[40].Actor != "ancient" {
		t.Fatalf("order: newest %s, oldest %s; want a39 first, ancient last", all[0].Actor, all[40].Actor)
	}
	// Run prunes when it starts.
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- a.Run(ctx) }()
	testutil.WaitFor(t, 10*time.Second, "pruned to 25 entries", func() (bool, string) {
		all, _, err = a.List(context.Background(), "", 1000, "")
		return err == nil && len(all) == 25, fmt.Sprint(len(all), err)
	})
	cancel()
	<-done
	if all[0].Actor != "a39" || all[24].Actor != "a15" {
		t.Fatalf("kept %s..%s, want the newest 25 (a39..a15)", all[0].Actor, all[24].Actor)
	}
	var walked []string
	next := ""
	for {
		page, n, err := a.List(context.Background(), "", 10, next)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			walked = append(walked, e.Actor)
		}
		if n == "" {
			break
		}
		next = n
	}
	if len(walked) != 25 || walked[10] != all[10].Actor {
		t.Fatalf("paging by 10 walked %d entries %v", len(walked), walked)
	}
}
