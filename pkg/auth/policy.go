package auth

import (
	"fmt"
	"strings"

	"github.com/orch-project/orch/pkg/model"
)

// AccessRequest is one AWS call to decide: who asks (the caller's role
// ARN), for what action ("sqs:SendMessage") on which resource (an ARN).
type AccessRequest struct {
	Principal string
	Action    string
	Resource  string
	// Context holds condition keys beyond aws:PrincipalArn (which is
	// Principal), e.g. aws:SourceArn.
	Context map[string]string
}

// Decision is a policy's answer.
type Decision int

const (
	// ImplicitDeny: no statement allows the request.
	ImplicitDeny Decision = iota
	// Allowed: a statement allows it and none denies it.
	Allowed
	// ExplicitDeny: a statement denies it; nothing can allow it then.
	ExplicitDeny
)

func (d Decision) String() string {
	return [...]string{"implicit deny", "allow", "explicit deny"}[d]
}

// Evaluate decides req against an identity policy (the caller's role's)
// and a resource policy (the queue's or topic's Policy attribute; nil
// when it has none), as IAM does within one account: an explicit Deny
// in either wins, else an Allow in either allows, else the request is
// implicitly denied.
func Evaluate(identity, resource *model.Policy, req AccessRequest) Decision {
	a := evaluate(identity, req, false)
	b := evaluate(resource, req, true)
	switch {
	case a == ExplicitDeny || b == ExplicitDeny:
		return ExplicitDeny
	case a == Allowed || b == Allowed:
		return Allowed
	}
	return ImplicitDeny
}

func evaluate(p *model.Policy, req AccessRequest, resource bool) Decision {
	if p == nil {
		return ImplicitDeny
	}
	d := ImplicitDeny
	for i := range p.Statement {
		s := &p.Statement[i]
		if !statementMatches(s, req, resource) {
			continue
		}
		if s.Effect == model.EffectDeny {
			return ExplicitDeny
		}
		d = Allowed
	}
	return d
}

func statementMatches(s *model.Statement, req AccessRequest, resource bool) bool {
	if resource && !principalMatches(s.Principal, req.Principal) {
		return false
	}
	if len(s.Action) > 0 && !anyMatch(s.Action, req.Action, true) ||
		len(s.NotAction) > 0 && anyMatch(s.NotAction, req.Action, true) {
		return false
	}
	if len(s.Resource) > 0 && !anyMatch(s.Resource, req.Resource, false) ||
		len(s.NotResource) > 0 && anyMatch(s.NotResource, req.Resource, false) {
		return false
	}
	return conditionsHold(s.Condition, req)
}

func principalMatches(p *model.Principal, who string) bool {
	if p == nil {
		return false
	}
	for _, a := range p.AWS {
		if a == "*" || a == who || a == model.AccountID || a == "arn:aws:iam::"+model.AccountID+":root" {
			return true
		}
	}
	return false
}

func anyMatch(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if wildcard(p, s, fold) {
			return true
		}
	}
	return false
}

// conditionsHold: every operator's every key must hold (AND); a key holds
// when any of its values matches (OR). A key the request lacks fails a
// positive operator and passes a negated one (or any ...IfExists).
func conditionsHold(cond map[string]map[string]model.StringList, req AccessRequest) bool {
	for op, keys := range cond {
		ifExists := strings.HasSuffix(op, "IfExists")
		op = strings.TrimSuffix(op, "IfExists")
		negated := strings.Contains(op, "Not")
		for key, want := range keys {
			got, ok := contextValue(req, key)
			if !ok {
				if ifExists || negated {
					continue
				}
				return false
			}
			match := false
			for _, w := range want {
				switch op {
				case "StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals":
					match = match || got == w
				case "StringLike", "StringNotLike", "ArnLike", "ArnNotLike":
					match = match || Wildcard(w, got)
				default:
					return false // unknown operators are refused when stored; never pass one
				}
			}
			if match == negated {
				return false
			}
		}
	}
	return true
}

func contextValue(req AccessRequest, key string) (string, bool) {
	switch strings.ToLower(key) {
	case "aws:principalarn":
		return req.Principal, req.Principal != ""
	}
	for k, v := range req.Context {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// Wildcard matches s against pattern, where * is any run of characters
// and ? any one character (IAM's wildcards).
func Wildcard(pattern, s string) bool { return wildcard(pattern, s, false) }

// wildcard is Wildcard, ignoring ASCII case when fold is set (actions are
// case-insensitive), without allocating lower-cased copies.
func wildcard(pattern, s string, fold bool) bool {
	// Iterative matching with backtracking to the last *: linear in
	// practice, no recursion a hostile pattern could blow up.
	eq := func(a, b byte) bool {
		if fold {
			a, b = lower(a), lower(b)
		}
		return a == b
	}
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] != '*' && (pattern[p] == '?' || eq(pattern[p], s[i])):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p, mark = star+1, mark+1
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// AccessDeniedMessage is the message of an AccessDenied answer, as AWS
// words it: who, which action, which resource, and why.
func AccessDeniedMessage(req AccessRequest, d Decision) string {
	why := "no identity-based policy allows the " + req.Action + " action"
	if d == ExplicitDeny {
		why = "an explicit deny in a policy"
	}
	return fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because %s", req.Principal, req.Action, req.Resource, why)
}
