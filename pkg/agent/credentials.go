package agent

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
)

// A task whose definition names a taskRoleArn gets its own AWS
// credentials, served the way the ECS agent serves them:
//
//	GET $AWS_CONTAINER_CREDENTIALS_FULL_URI
//	Authorization: $AWS_CONTAINER_AUTHORIZATION_TOKEN
//	-> {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"}
//
// Stock SDKs' default credential chains read these two variables, so a
// task needs no code to use its role. The agent asks the control plane
// for the credentials when a container first asks, and again once fewer
// than credentialsRefresh remain (SDKs ask again 5-15 minutes before
// expiry, and then get fresh ones). The server revokes them when the
// task stops.

// credentialsRefresh: cached credentials with less time left are replaced.
const credentialsRefresh = 20 * time.Minute

// TaskCredentialer is the optional part of ControlPlane that mints a
// task's credentials (pkg/api/client implements it).
type TaskCredentialer interface {
	TaskCredentials(ctx context.Context, node, taskID string) (wire.TaskCredentials, error)
}

// taskCreds caches one task's credentials.
type taskCreds struct {
	mu      sync.Mutex
	c       wire.TaskCredentials
	expires time.Time
}

// credentialsToken is the Authorization value a task's containers send;
// derived from the task's endpoint secret so an adopted container's
// token survives an agent restart. It keeps a server-side request
// forgery in the app (which can choose a URL, not headers) from reading
// the credentials.
func credentialsToken(secret string) string {
	sum := sha256.Sum256([]byte("orch-task-credentials\x00" + secret))
	return hex.EncodeToString(sum[:])
}

// credentialsEnv are the variables that point a container of a task with
// a role at its credentials.
func (r *taskRunner) credentialsEnv() map[string]string {
	if r.def.TaskRoleArn == "" {
		return nil
	}
	r.a.mu.Lock()
	base, secret := r.a.credentialsBase, r.secret
	r.a.mu.Unlock()
	if base == "" {
		return nil
	}
	return map[string]string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": base + "/v2/credentials/" + secret,
		"AWS_CONTAINER_AUTHORIZATION_TOKEN":  credentialsToken(secret),
	}
}

func (a *Agent) taskCredentials(w http.ResponseWriter, r *http.Request, tr *taskRunner) {
	want := credentialsToken(r.PathValue("secret"))
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) != 1 {
		writeJSONDoc(w, http.StatusUnauthorized, map[string]string{"code": "InvalidToken",
			"message": "send the task's AWS_CONTAINER_AUTHORIZATION_TOKEN in the Authorization header"})
		return
	}
	_, def := tr.snapshot()
	if def.TaskRoleArn == "" {
		writeJSONDoc(w, http.StatusNotFound, map[string]string{"code": "NoRole",
			"message": "task definition " + def.Family + " has no taskRoleArn, so its tasks have no AWS credentials"})
		return
	}
	mint, ok := a.cp.(TaskCredentialer)
	if !ok {
		writeJSONDoc(w, http.StatusServiceUnavailable, map[string]string{"code": "Unavailable", "message": "this agent's control plane mints no credentials"})
		return
	}
	c := &tr.creds
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Until(c.expires) < credentialsRefresh {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		got, err := mint.TaskCredentials(ctx, a.node, tr.id)
		cancel()
		if err != nil {
			if time.Now().Before(c.expires) {
				// The server is away: what is cached is still valid.
				writeJSONDoc(w, http.StatusOK, c.c)
				return
			}
			a.log.Warn("could not get a task's credentials from the control plane", "task", tr.id, "err", err)
			writeJSONDoc(w, http.StatusServiceUnavailable, map[string]string{"code": "Unavailable", "message": "the control plane did not give the task's credentials: " + err.Error()})
			return
		}
		exp, err := time.Parse(time.RFC3339, got.Expiration)
		if err != nil {
			exp = time.Now().Add(credentialsRefresh) // ask again next time
		}
		c.c, c.expires = got, exp
	}
	writeJSONDoc(w, http.StatusOK, c.c)
}

// credentialsHost is implemented by runtimes (Docker) whose containers
// reach the host at an address the SDKs accept for credentials.
type credentialsHost interface {
	EnsureCredentialsAddress(ctx context.Context) (string, error)
}

// credentialsEndpointBase picks the URL base of the credentials endpoint. The stock SDKs
// fetch container credentials over plain HTTP only from loopback or
// 169.254.170.2/.23 (ECS's and EKS's addresses); host.docker.internal is
// neither, so under Docker the agent puts 169.254.170.2 on the host.
func (a *Agent) credentialsEndpointBase(ctx context.Context, addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	ch, ok := a.rt.(credentialsHost)
	if !ok {
		return a.taskEndpointBase(addr) // not containers: loopback, which SDKs accept
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
		a.log.Warn("task endpoints listen on a specific address, which containers may not reach at 169.254.170.2; tasks' credentials endpoint may not work", "listen", addr)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ip, err := ch.EnsureCredentialsAddress(ctx)
	if err != nil {
		a.log.Warn("could not put the credentials address on this host; tasks with a taskRoleArn get no credentials", "err", err)
		return ""
	}
	return "http://" + net.JoinHostPort(ip, port)
}
