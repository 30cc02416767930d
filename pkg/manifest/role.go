package manifest

import (
	"errors"

	"github.com/orch-project/orch/pkg/model"
)

// KindRole is the manifest kind of roles: a name and one IAM-style policy
// document. A task definition's taskRoleArn names one; its tasks' AWS
// credentials may do what the policy allows, nothing more.
const KindRole = "Role"

// RoleKind reads roles (pkg/server applies them).
var RoleKind = Kind{Name: KindRole, Decode: decodeRole}

func decodeRole(b *Body) (any, string, error) {
	var s model.RoleSpec
	if err := b.Decode(&s, nil); err != nil {
		return nil, s.RoleName, err
	}
	if _, err := s.Role(); err != nil {
		var fes model.FieldErrors
		if errors.As(err, &fes) {
			return nil, s.RoleName, fes
		}
		return nil, s.RoleName, err
	}
	return &s, s.RoleName, nil
}
