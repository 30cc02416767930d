package wire

import "github.com/orch-project/orch/pkg/model"

// Role is a role as GET /v1/roles lists it.
type Role struct {
	RoleName       string        `json:"roleName"`
	Arn            string        `json:"arn"`
	Description    string        `json:"description,omitempty"`
	PolicyDocument *model.Policy `json:"policyDocument"`
	CreatedAt      int64         `json:"createdAt,omitempty"`
}

// TaskCredentials is what POST /v1/agent/nodes/{name}/tasks/{id}/credentials
// returns, in the shape the ECS container credentials endpoint serves
// (the agent hands it to the task's containers unchanged).
type TaskCredentials struct {
	AccessKeyId     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"` // RFC 3339
	RoleArn         string `json:"RoleArn"`
}
