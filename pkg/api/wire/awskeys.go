package wire

import (
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// AccessKey is POST /v1/aws-keys's answer (IAM's CreateAccessKey): a new
// admin AWS access key with its secret, shown this once.
type AccessKey struct {
	AccessKeyId     string     `json:"AccessKeyId"`
	SecretAccessKey string     `json:"SecretAccessKey"`
	Status          string     `json:"Status"`
	CreateDate      *time.Time `json:"CreateDate,omitempty"`
}

// AccessKeyList is GET /v1/aws-keys (IAM's ListAccessKeys): never secrets.
type AccessKeyList struct {
	AccessKeyMetadata []model.AccessKeyMeta `json:"AccessKeyMetadata"`
}

// AccessKeyUpdate is PUT /v1/aws-keys/{id} (IAM's UpdateAccessKey):
// Status "Active" or "Inactive".
type AccessKeyUpdate struct {
	Status string `json:"Status"`
}
