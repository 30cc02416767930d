package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A read etcd did not answer in time is a context.DeadlineExceeded (the API
// answers 503 naming etcd), however etcd's client spelled it; other
// failures stay as they are. TestThreeMemberEtcd met the first case
// without quorum: a 500 "rpc error: code = Unknown desc = context deadline
// exceeded".
func TestReadFailedMarksTimeouts(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unknown, "context deadline exceeded"), true},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), true},
		{status.Error(codes.Unavailable, "connection refused"), true},
		{rpctypes.ErrTimeout, true},
		{rpctypes.ErrGRPCTimeoutDueToLeaderFail, true},
		{context.DeadlineExceeded, true},
		{status.Error(codes.Unknown, "something else"), false},
		{status.Error(codes.InvalidArgument, "bad"), false},
		{errors.New("decode failed"), false},
	} {
		err := readFailed(fmt.Errorf("store: list /orch/taskdefs/ha/: %w", c.err))
		if got := errors.Is(err, context.DeadlineExceeded); got != c.want {
			t.Errorf("readFailed(%v): deadline exceeded = %v, want %v", c.err, got, c.want)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("readFailed(%v) lost the cause: %v", c.err, err)
		}
	}
}
