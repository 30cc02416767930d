package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Policy is an IAM-style policy document: an identity policy (a Role's,
// naming what its holder may do) or a resource policy (a queue's or
// topic's Policy attribute, also naming who: Principal). pkg/auth
// evaluates it; this file only gives it a shape and checks it.
type Policy struct {
	Version   string        `json:"Version,omitempty"`
	Id        string        `json:"Id,omitempty"`
	Statement StatementList `json:"Statement"`
}

// Statement is one rule of a Policy.
type Statement struct {
	Sid         string     `json:"Sid,omitempty"`
	Effect      string     `json:"Effect"` // Allow or Deny
	Principal   *Principal `json:"Principal,omitempty"`
	Action      StringList `json:"Action,omitempty"`
	NotAction   StringList `json:"NotAction,omitempty"`
	Resource    StringList `json:"Resource,omitempty"`
	NotResource StringList `json:"NotResource,omitempty"`
	// Condition maps an operator (StringEquals, ArnLike, ...) to condition
	// keys (aws:PrincipalArn, aws:SourceArn, ...) and their values.
	Condition map[string]map[string]StringList `json:"Condition,omitempty"`
}

// Policy effects.
const (
	EffectAllow = "Allow"
	EffectDeny  = "Deny"
)

// ConditionOperators are the Condition operators Orch evaluates; others
// are refused when a policy is stored (a condition it cannot evaluate must
// not silently pass or fail).
var ConditionOperators = []string{"StringEquals", "StringNotEquals", "StringLike", "StringNotLike",
	"ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike"}

// StringList is a JSON string or list of strings, as IAM allows for
// Action, Resource and condition values.
type StringList []string

func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = StringList{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return fmt.Errorf("want a string or a list of strings")
	}
	*l = ss
	return nil
}

// StatementList is one statement object or a list of them.
type StatementList []Statement

func (l *StatementList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var s Statement
		if err := strictUnmarshal(b, &s); err != nil {
			return err
		}
		*l = StatementList{s}
		return nil
	}
	var ss []Statement
	if err := strictUnmarshal(b, &ss); err != nil {
		return err
	}
	*l = ss
	return nil
}

// Principal is a resource policy's "who": "*" (anyone signed) or
// {"AWS": [role ARNs or "*"]}.
type Principal struct {
	AWS StringList `json:"AWS,omitempty"`
	// Service (e.g. "sns.amazonaws.com") is accepted, as AWS's policies
	// for topic-to-queue delivery name it; no caller of Orch's endpoint is
	// a service, so it matches nobody (Orch delivers in-process).
	Service StringList `json:"Service,omitempty"`
}

func (p *Principal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil || s != "*" {
			return fmt.Errorf(`Principal as a string must be "*"; name roles as {"AWS": ["arn:aws:iam::%s:role/NAME"]}`, AccountID)
		}
		p.AWS = StringList{"*"}
		return nil
	}
	type plain Principal
	return strictUnmarshal(b, (*plain)(p))
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// MaxPolicyBytes bounds a policy document (IAM's inline role policy limit
// is 10240 characters; a queue's Policy attribute, 20 KiB).
const MaxPolicyBytes = 20 << 10

// ParsePolicy reads and checks a policy document. resource says whether
// it is a resource policy (statements name a Principal) or an identity
// policy (they must not). Errors are FieldErrors under path.
func ParsePolicy(doc []byte, resource bool, path string) (*Policy, error) {
	if len(doc) > MaxPolicyBytes {
		return nil, FieldErrors{{Path: path, Message: fmt.Sprintf("the policy document is %d bytes; at most %d are allowed", len(doc), MaxPolicyBytes)}}
	}
	var p Policy
	if err := strictUnmarshal(doc, &p); err != nil {
		return nil, FieldErrors{{Path: path, Message: "not a policy document: " + err.Error() +
			` (want {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": ["arn:aws:sqs:*:*:orders"]}]})`}}
	}
	return &p, p.Validate(resource, path)
}

var actionPattern = regexp.MustCompile(`^(\*|[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+)$`)

// Validate checks p (see ParsePolicy).
func (p *Policy) Validate(resource bool, path string) error {
	var errs FieldErrors
	if p.Version != "" && p.Version != "2012-10-17" && p.Version != "2008-10-17" {
		errs.Add(path+".Version", fmt.Sprintf("version %q is not a policy language version; use \"2012-10-17\"", p.Version))
	}
	if len(p.Statement) == 0 {
		errs.Add(path+".Statement", "a policy needs at least one statement")
	}
	for i, s := range p.Statement {
		sp := fmt.Sprintf("%s.Statement[%d]", path, i)
		if s.Effect != EffectAllow && s.Effect != EffectDeny {
			errs.Add(sp+".Effect", fmt.Sprintf("effect %q: use Allow or Deny", s.Effect))
		}
		if (len(s.Action) == 0) == (len(s.NotAction) == 0) {
			errs.Add(sp+".Action", "a statement needs Action (or NotAction), not both")
		}
		for j, a := range append(append(StringList{}, s.Action...), s.NotAction...) {
			if !actionPattern.MatchString(a) {
				errs.Add(fmt.Sprintf("%s.Action[%d]", sp, j), fmt.Sprintf("action %q: write service:Action, wildcards allowed (sqs:SendMessage, sqs:Receive*, sns:*)", a))
			}
		}
		if (len(s.Resource) == 0) == (len(s.NotResource) == 0) {
			errs.Add(sp+".Resource", `a statement needs Resource (or NotResource), not both: ARNs with wildcards, e.g. "arn:aws:sqs:*:*:orders-*", or "*"`)
		}
		for j, r := range append(append(StringList{}, s.Resource...), s.NotResource...) {
			if r != "*" && !strings.HasPrefix(r, "arn:") {
				errs.Add(fmt.Sprintf("%s.Resource[%d]", sp, j), fmt.Sprintf("resource %q is not an ARN; write arn:aws:sqs:%s:%s:QUEUE (wildcards allowed) or \"*\"", r, Region, AccountID))
			}
		}
		switch {
		case resource && s.Principal == nil:
			errs.Add(sp+".Principal", `a resource policy statement names its Principal: "*" or {"AWS": ["arn:aws:iam::`+AccountID+`:role/NAME"]}`)
		case !resource && s.Principal != nil:
			errs.Add(sp+".Principal", "a role's policy applies to the role itself: remove Principal (it belongs in a queue's or topic's Policy)")
		}
		for op := range s.Condition {
			name := strings.TrimSuffix(op, "IfExists")
			ok := false
			for _, known := range ConditionOperators {
				ok = ok || name == known
			}
			if !ok {
				errs.Add(sp+".Condition."+op, fmt.Sprintf("condition operator %q is not supported; use one of %s", op, strings.Join(ConditionOperators, ", ")))
			}
		}
	}
	return errs.Err()
}

// Role is what a task runs as: its policy says what the task's
// credentials may do. A task definition names it by ARN (taskRoleArn).
type Role struct {
	RoleName    string  `json:"roleName"`
	Description string  `json:"description,omitempty"`
	Policy      *Policy `json:"policyDocument"`
	CreatedAt   int64   `json:"createdAt,omitempty"` // unix seconds
}

// Arn is the role's ARN.
func (r *Role) Arn() string { return RoleArn(r.RoleName) }

// RoleArn is the ARN of role name.
func RoleArn(name string) string { return "arn:aws:iam::" + AccountID + ":role/" + name }

// RoleNameFromArn returns the role name of a role ARN (or the name itself
// when ref is a plain name), or "" when ref is neither.
func RoleNameFromArn(ref string) string {
	if !strings.HasPrefix(ref, "arn:") {
		if validRoleName(ref) {
			return ref
		}
		return ""
	}
	p := strings.SplitN(ref, ":", 6)
	if len(p) != 6 || p[2] != "iam" || !strings.HasPrefix(p[5], "role/") {
		return ""
	}
	name := p[5][len("role/"):]
	if i := strings.LastIndexByte(name, '/'); i >= 0 { // a path: role/team/name
		name = name[i+1:]
	}
	if !validRoleName(name) {
		return ""
	}
	return name
}

var roleNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

func validRoleName(s string) bool { return roleNamePattern.MatchString(s) }

// RoleSpec is the Role manifest kind: a name and one inline policy
// (IAM's CreateRole plus PutRolePolicy in one document). The policy may
// be written as YAML/JSON or as a JSON string.
type RoleSpec struct {
	RoleName       string `json:"roleName"`
	Description    string `json:"description,omitempty"`
	PolicyDocument any    `json:"policyDocument"`
}

// Role checks s and returns the role it describes.
func (s *RoleSpec) Role() (*Role, error) {
	var errs FieldErrors
	if !validRoleName(s.RoleName) {
		errs.Add("roleName", fmt.Sprintf("role name %q: use 1-64 letters, digits and +=,.@_-", s.RoleName))
	}
	if len(s.Description) > 1000 {
		errs.Add("description", "at most 1000 characters")
	}
	var doc []byte
	switch d := s.PolicyDocument.(type) {
	case nil:
		errs.Add("policyDocument", `a role needs a policyDocument: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: [sqs:SendMessage], Resource: [arn:aws:sqs:*:*:orders]}]}`)
	case string:
		doc = []byte(d)
	default:
		doc, _ = json.Marshal(d)
	}
	var p *Policy
	if doc != nil {
		var err error
		if p, err = ParsePolicy(doc, false, "policyDocument"); err != nil {
			if fes, ok := err.(FieldErrors); ok {
				errs = append(errs, fes...)
			}
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &Role{RoleName: s.RoleName, Description: s.Description, Policy: p}, nil
}
