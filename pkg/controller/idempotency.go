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

// CreateService's clientToken works the same way: the same token with the
// same spec within the window returns the service the first call created
// (as it is now), the same token with another spec is refused. A token
// only makes creation idempotent: a service that exists without this
// token's record is updated by Apply and refused by Create.

// serviceParamsHash identifies a CreateService request (its token left out).
func serviceParamsHash(in *model.Service) string {
	b, _ := json.Marshal(specOf(in))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// createOnce creates svc under in's token. done=false (and no error) when
// a service of that name exists without the token's record: the caller
// decides (Apply updates it, Create refuses).
func (s *Services) createOnce(ctx context.Context, in, svc *model.Service) (out *model.Service, action string, done bool, err error) {
	if err := validateClientToken(in.ClientToken); err != nil {
		return nil, "", true, err
	}
	params := serviceParamsHash(in)
	for attempt := 0; ; attempt++ {
		rec, err := s.st.GetClientRequest(ctx, "service", in.ClientToken)
		switch {
		case err == nil:
			if rec.Params != params {
				return nil, "", true, &model.FieldError{Path: "clientToken", Message: "idempotency mismatch: this token was used within the last hour for a CreateService with other parameters; use a new token for a new request"}
			}
			cur, err := s.st.GetService(ctx, in.ServiceName)
			if errors.Is(err, model.ErrNotFound) {
				return nil, "", true, fmt.Errorf("%w: service %s, created with this clientToken, has been deleted since; use a new token to create it again", model.ErrConflict, in.ServiceName)
			}
			if err != nil {
				return nil, "", true, err
			}
			return cur, "unchanged", true, nil
		case !errors.Is(err, model.ErrNotFound):
			return nil, "", true, err
		}
		rec = &store.ClientRequest{Params: params, CreatedAt: s.now().UTC()}
		created, err := s.st.CreateServiceOnce(ctx, in.ClientToken, rec, ClientTokenWindow, svc)
		if errors.Is(err, model.ErrConflict) && attempt == 0 {
			continue // a concurrent call with the token won: answer as it did
		}
		if err != nil {
			return nil, "", true, err
		}
		if !created {
			return nil, "", false, nil
		}
		return svc, "created", true, s.applyAutoScaling(ctx, svc)
	}
}
