package model

import (
	"errors"
	"fmt"
)

// Sentinel errors shared by the store, controllers and API. The API maps
// them to HTTP statuses.
var (
	ErrNotFound = errors.New("model: not found")
	ErrConflict = errors.New("model: conflict")
	ErrInvalid  = errors.New("model: invalid")
	// ErrWrongNode: an agent reported on a task not assigned to its node.
	ErrWrongNode = errors.New("model: task is not assigned to this node")
	// ErrNotLeader: a write needed the leadership this process lost;
	// another replica serves it (clients retry).
	ErrNotLeader = errors.New("model: this process is not the leader")
	// ErrOutcomeUnknown: a write timed out in etcd and may or may not
	// have been applied (retry with the same clientToken to be safe).
	ErrOutcomeUnknown = errors.New("model: outcome unknown")
	// ErrNodeNameTaken: a node name is bound to another host's key (a
	// conflict).
	ErrNodeNameTaken = fmt.Errorf("%w: node name taken", ErrConflict)
)

// FieldError is a validation error at a field path such as
// "containerDefinitions[1].memory". The manifest package turns Path into a
// file:line:column.
type FieldError struct {
	Path    string
	Message string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

func (e *FieldError) Unwrap() error { return ErrInvalid }

// FieldErrors is a list of validation errors; it is an error itself.
type FieldErrors []*FieldError

func (es FieldErrors) Error() string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += "; "
		}
		s += e.Error()
	}
	return s
}

func (es FieldErrors) Unwrap() error { return ErrInvalid }

// Add appends an error at path.
func (es *FieldErrors) Add(path, msg string) {
	*es = append(*es, &FieldError{Path: path, Message: msg})
}

// Err returns nil when empty.
func (es FieldErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
