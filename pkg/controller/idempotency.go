package controller

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// RunTask's clientToken makes retries safe, as in ECS: the same token with
// the same parameters within the window returns the tasks the first call
// created (even when that call's answer was lost: a timeout, a killed
// client), and the same token with other parameters is refused. Task ids
// are derived from the token's record, so a retry that finds some of them
// missing (a call cut short between batches) completes the set.

// ClientTokenWindow is how long a clientToken is remembered.
const ClientTokenWindow = time.Hour

// MaxClientToken is the longest clientToken (ECS allows 64 characters).
const MaxClientToken = 64

func validateClientToken(tok string) error {
	if len(tok) > MaxClientToken {
		return &model.FieldError{Path: "clientToken", Message: fmt.Sprintf("is %d characters; at most %d", len(tok), MaxClientToken)}
	}
	for _, r := range tok {
		if r < 0x21 || r > 0x7e {
			return &model.FieldError{Path: "clientToken", Message: "must be printable ASCII without spaces"}
		}
	}
	return nil
}

// paramsHash identifies a request's parameters (its token left out).
func paramsHash(in model.RunTaskInput) string {
	in.ClientToken = ""
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// tokenTaskID is the id of the i-th task of the request with nonce.
func tokenTaskID(nonce string, i int) string {
	sum := sha256.Sum256([]byte(nonce + "/" + strconv.Itoa(i)))
	return hex.EncodeToString(sum[:16])
}

func (s *Tasks) runOnce(ctx context.Context, td *model.TaskDefinition, in model.RunTaskInput) ([]*model.Task, error) {
	if err := validateClientToken(in.ClientToken); err != nil {
		return nil, err
	}
	params := paramsHash(in)
	for attempt := 0; ; attempt++ {
		rec, err := s.st.GetClientRequest(ctx, "runtask", in.ClientToken)
		switch {
		case err == nil:
			if rec.Params != params {
				return nil, &model.FieldError{Path: "clientToken", Message: "idempotency mismatch: this token was used within the last hour for a RunTask with other parameters; use a new token for a new request"}
			}
			return s.completeOnce(ctx, td, in, rec.Nonce)
		case !errors.Is(err, model.ErrNotFound):
			return nil, err
		}
		var nb [16]byte
		_, _ = rand.Read(nb[:])
		rec = &store.ClientRequest{Params: params, Nonce: hex.EncodeToString(nb[:]), CreatedAt: s.now().UTC()}
		tasks := s.tokenTasks(td, in, rec.Nonce)
		err = s.st.CreateTasksOnce(ctx, "runtask", in.ClientToken, rec, ClientTokenWindow, tasks)
		if errors.Is(err, model.ErrConflict) && attempt == 0 {
			continue // a concurrent call with the token won: answer as it did
		}
		if err != nil {
			return nil, err
		}
		return tasks, nil
	}
}

func (s *Tasks) tokenTasks(td *model.TaskDefinition, in model.RunTaskInput, nonce string) []*model.Task {
	tasks := make([]*model.Task, in.Count)
	for i := range tasks {
		t := NewTask(td, in, s.now())
		t.TaskID = tokenTaskID(nonce, i)
		t.TaskArn = model.TaskArnFor(t.TaskID)
		tasks[i] = t
	}
	return tasks
}

// completeOnce returns the tasks of an earlier call with the token,
// creating any that call did not get to.
func (s *Tasks) completeOnce(ctx context.Context, td *model.TaskDefinition, in model.RunTaskInput, nonce string) ([]*model.Task, error) {
	out := make([]*model.Task, in.Count)
	var missing []*model.Task
	for i := range out {
		t, err := s.st.GetTask(ctx, tokenTaskID(nonce, i))
		switch {
		case err == nil:
			out[i] = t
		case errors.Is(err, model.ErrNotFound):
			t := NewTask(td, in, s.now())
			t.TaskID = tokenTaskID(nonce, i)
			t.TaskArn = model.TaskArnFor(t.TaskID)
			out[i] = t
			missing = append(missing, t)
		default:
			return nil, err
		}
	}
	if err := s.st.CreateMissingTasks(ctx, missing); err != nil {
		return nil, err
	}
	return out, nil
}
