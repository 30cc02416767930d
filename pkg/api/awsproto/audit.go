package awsproto

import (
	"context"
	"net/http"
	"strings"
)

// AuditNote is what an AWS call's authorization learns for the audit log:
// the action and resource the protocol named, and who signed. The server
// attaches an empty note to each AWS request (WithAuditNote); the one
// access-key check every protocol passes fills it in (Note), and the
// server records the call when it is done, if it changed state.
type AuditNote struct {
	Action   string // IAM-style: "sqs:CreateQueue"
	Resource string // an ARN, or a name where the API has no ARN ("*" when none)
	KeyID    string // the access key id that signed
	Role     string // the key's kind: "admin" or "task"
	RoleArn  string // a task key's role
	TaskID   string // a task key's task
	// Remote is the client's address: a forwarding replica's word for it
	// when that replica proved it is one (ClientAddr), else the peer's.
	Remote string
	// Forwarded is set when the call was passed to the replica that owns
	// its data: that replica verifies and records it, so this one does not.
	Forwarded bool
}

type auditNoteKey struct{}

// WithAuditNote returns r carrying a fresh note, and the note.
func WithAuditNote(r *http.Request) (*http.Request, *AuditNote) {
	n := &AuditNote{}
	return r.WithContext(context.WithValue(r.Context(), auditNoteKey{}, n)), n
}

// Note returns r's note, or nil when the call is not audited.
func Note(r *http.Request) *AuditNote { return NoteOf(r.Context()) }

// NoteOf is Note for handlers that only have the request's context.
func NoteOf(ctx context.Context) *AuditNote {
	n, _ := ctx.Value(auditNoteKey{}).(*AuditNote)
	return n
}

// dataPlane are the message and invocation calls that change state but
// are not audited: their volume (thousands a second) would drown the
// changes an audit is for, and cost a write each.
var dataPlane = map[string]bool{
	"sqs:SendMessage": true, "sqs:SendMessageBatch": true, "sqs:ReceiveMessage": true,
	"sqs:DeleteMessage": true, "sqs:DeleteMessageBatch": true,
	"sqs:ChangeMessageVisibility": true, "sqs:ChangeMessageVisibilityBatch": true,
	"sns:Publish": true, "sns:PublishBatch": true,
	"lambda:InvokeFunction": true, "lambda:InvokeAsync": true,
}

// dataPlaneTargets are the data-plane calls of the JSON protocols, by
// X-Amz-Target: the target alone names their action (the SQS adapter
// authorizes AmazonSQS.X as sqs:X), so the server knows before any adapter
// runs that they are never recorded.
var dataPlaneTargets = map[string]bool{
	"AmazonSQS.SendMessage": true, "AmazonSQS.SendMessageBatch": true, "AmazonSQS.ReceiveMessage": true,
	"AmazonSQS.DeleteMessage": true, "AmazonSQS.DeleteMessageBatch": true,
	"AmazonSQS.ChangeMessageVisibility": true, "AmazonSQS.ChangeMessageVisibilityBatch": true,
}

// Unaudited reports whether r is a data-plane call named by its
// X-Amz-Target, which the audit log never records: the server attaches no
// note to it (a request copy, a context value and a response wrapper per
// message saved). Any other call, query-protocol ones included, gets its
// note and is recorded as before.
func Unaudited(r *http.Request) bool {
	t := Target(r)
	return t != "" && dataPlaneTargets[t] && !Mutating("sqs:"+strings.TrimPrefix(t, "AmazonSQS."))
}

// Mutating reports whether an action ("sqs:CreateQueue") changes state and
// so belongs in the audit log. Every AWS API here names its reads Get*,
// List* or Describe* (Lambda's REST calls are named so from their method
// and path: a GET is a Get or List); anything else is a write, unless it
// is the data plane. Unknown actions count as writes: auditing one read
// too many is cheaper than missing a write.
func Mutating(action string) bool {
	if action == "" || dataPlane[action] {
		return false
	}
	name := action[strings.IndexByte(action, ':')+1:]
	for _, p := range []string{"Get", "List", "Describe"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	return true
}
