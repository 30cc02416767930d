package function

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue"
)

// Event source mappings: what a queue poller needs (the queue, the
// function, batch size and window, partial batch responses, maximum
// concurrency, enabled), checked against the function and the queue as
// Lambda checks them.

// CreateMapping validates m (its queue must exist and its visibility
// timeout cover the function's timeout) and stores it with a new UUID.
func (s *Service) CreateMapping(ctx context.Context, m model.EventSourceMapping) (*model.StoredMapping, error) {
	m.UUID = ""
	m.Normalize()
	if err := m.Validate(); err != nil {
		return nil, err
	}
	sm, err := s.checkMapping(ctx, m)
	if err != nil {
		return nil, err
	}
	sm.UUID = NewRequestID()
	if err := s.st.PutMapping(ctx, sm); err != nil {
		return nil, err
	}
	s.log.Info("event source mapping created", "mapping", sm.UUID, "function", sm.FunctionName, "source", sm.EventSourceArn)
	return sm, nil
}

// checkMapping resolves m's function and queue; m is normalized and valid.
func (s *Service) checkMapping(ctx context.Context, m model.EventSourceMapping) (*model.StoredMapping, error) {
	fn, err := s.Get(ctx, m.FunctionName)
	if err != nil {
		return nil, err
	}
	m.FunctionName = fn.FunctionName
	if s.cfg.Queues != nil {
		qname := m.EventSourceArn[strings.LastIndexByte(m.EventSourceArn, ':')+1:]
		q, err := s.cfg.Queues.GetQueue(ctx, qname)
		if _, elsewhere := errors.AsType[*queue.NotOwnerError](err); elsewhere {
			// Another replica serves the queue: its definition (the
			// visibility timeout) is in etcd for any replica to read.
			q, err = s.st.GetQueue(ctx, qname)
		}
		if err != nil {
			if errors.Is(err, model.ErrNotFound) {
				return nil, model.FieldErrors{{Path: "EventSourceArn", Message: fmt.Sprintf("queue %s does not exist: create it first (orch get queues lists them)", qname)}}
			}
			return nil, err
		}
		vis, _ := strconv.Atoi(q.Attributes[model.QAVisibilityTimeout])
		if err := m.CheckVisibility(fn.Timeout, vis); err != nil {
			return nil, err
		}
	}
	state := "Enabled"
	if m.Enabled != nil && !*m.Enabled {
		state = "Disabled"
	}
	return &model.StoredMapping{EventSourceMapping: m, FunctionArn: fn.FunctionArn, State: state, LastModified: time.Now().UTC()}, nil
}

// GetMapping reads a mapping by UUID.
func (s *Service) GetMapping(ctx context.Context, id string) (*model.StoredMapping, error) {
	m, err := s.st.GetMapping(ctx, id)
	if errors.Is(err, model.ErrNotFound) {
		return nil, &kindError{"The resource you requested does not exist: event source mapping " + id, model.ErrNotFound}
	}
	return m, err
}

// ListMappings returns the mappings, those of one function or one source
// when given (by name or ARN).
func (s *Service) ListMappings(ctx context.Context, function, sourceArn string) ([]*model.StoredMapping, error) {
	all, err := s.st.ListMappings(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, m := range all {
		if function != "" && m.FunctionName != Name(function) {
			continue
		}
		if sourceArn != "" && m.EventSourceArn != sourceArn {
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// UpdateMapping changes a mapping with fn and checks the result again.
func (s *Service) UpdateMapping(ctx context.Context, id string, fn func(*model.EventSourceMapping)) (*model.StoredMapping, error) {
	old, err := s.GetMapping(ctx, id)
	if err != nil {
		return nil, err
	}
	m := old.EventSourceMapping
	fn(&m)
	m.UUID = id
	m.Normalize()
	if err := m.Validate(); err != nil {
		return nil, err
	}
	sm, err := s.checkMapping(ctx, m)
	if err != nil {
		return nil, err
	}
	sm.UUID = id
	if err := s.st.PutMapping(ctx, sm); err != nil {
		return nil, err
	}
	return sm, nil
}

// DeleteMapping removes a mapping and returns it as it was.
func (s *Service) DeleteMapping(ctx context.Context, id string) (*model.StoredMapping, error) {
	m, err := s.GetMapping(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.st.DeleteMapping(ctx, id); err != nil {
		return nil, err
	}
	m.State = "Deleting"
	return m, nil
}

// ApplyMapping creates a mapping from a manifest, or updates the one that
// already connects the same queue to the same function (manifests have no
// UUID).
func (s *Service) ApplyMapping(ctx context.Context, m model.EventSourceMapping) (*model.StoredMapping, string, error) {
	m.Normalize()
	if err := m.Validate(); err != nil {
		return nil, "", err
	}
	existing, err := s.ListMappings(ctx, m.FunctionName, m.EventSourceArn)
	if err != nil {
		return nil, "", err
	}
	if len(existing) == 0 {
		sm, err := s.CreateMapping(ctx, m)
		return sm, "created", err
	}
	// A manifest applied again unchanged is not a change: no write, and
	// "unchanged" as for every other kind.
	same := existing[0].EventSourceMapping
	m.UUID = same.UUID
	if reflect.DeepEqual(same, m) {
		return existing[0], "unchanged", nil
	}
	sm, err := s.UpdateMapping(ctx, existing[0].UUID, func(cur *model.EventSourceMapping) { *cur = m })
	return sm, "configured", err
}
