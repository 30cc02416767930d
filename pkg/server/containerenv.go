package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"

	"github.com/orch-project/orch/pkg/auth"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// taskKeyID is the AWS access key every task container gets, so stock AWS
// SDKs in tasks talk to Orch's queues with no Orch-specific code. It is
// created once per cluster (by whichever server needs it first).
const taskKeyID = "AKIAORCHTASKS0000000"

// containerEnv returns the function the API uses to tell agents which
// environment every container gets: AWS_ENDPOINT_URL reachable from inside
// a container, the region, and the task access key.
func containerEnv(st *store.Store, tls bool) func(r *http.Request) map[string]string {
	scheme := "http://"
	if tls {
		// Agents mount the cluster CA and set AWS_CA_BUNDLE, so stock SDKs
		// trust this endpoint (host.docker.internal is in its certificate).
		scheme = "https://"
	}
	var once sync.Once
	var secret string
	return func(r *http.Request) map[string]string {
		once.Do(func() { secret = ensureTaskKey(r.Context(), st) })
		env := map[string]string{
			"AWS_ENDPOINT_URL":   scheme + containerReachable(r.Host),
			"AWS_REGION":         model.Region,
			"AWS_DEFAULT_REGION": model.Region,
		}
		if secret != "" {
			env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = taskKeyID, secret
		}
		return env
	}
}

func ensureTaskKey(ctx context.Context, st *store.Store) string {
	k, err := st.GetAWSKey(ctx, taskKeyID)
	if err == nil {
		return k.SecretAccessKey
	}
	if !errors.Is(err, model.ErrNotFound) {
		return ""
	}
	secret := randomBase62(40)
	if err := st.PutAWSKeyIfAbsent(ctx, store.AWSKey{AccessKeyID: taskKeyID, SecretAccessKey: secret, Role: auth.RoleTask}); err != nil {
		return ""
	}
	// Another server may have won the race: read what is stored.
	if k, err := st.GetAWSKey(ctx, taskKeyID); err == nil {
		return k.SecretAccessKey
	}
	return ""
}

// containerReachable turns the address an agent used to reach the server
// into one a container on that host can use: loopback (or 0.0.0.0) means "this host",
// which containers reach as host.docker.internal (the agent maps it to the
// host gateway).
func containerReachable(hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	if host == "localhost" {
		return net.JoinHostPort("host.docker.internal", port)
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		return net.JoinHostPort("host.docker.internal", port)
	}
	return hostport
}
