package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/store"
)

// sharedTaskKeyID is the AWS access key every task container got before
// task roles (issue 11): one key for every task, allowed everything on
// every queue. Servers delete it at start; tasks get their own short-lived
// credentials from their role instead (see iam.go).
const sharedTaskKeyID = "AKIAORCHTASKS0000000"

func retireSharedTaskKey(ctx context.Context, st *store.Store, log *slog.Logger) {
	if err := st.DeleteAWSKey(ctx, sharedTaskKeyID); err != nil {
		log.Warn("could not delete the retired shared task key (it is refused anyway)", "err", err)
	}
}

// containerEnv returns the function the API uses to tell agents which
// environment every container gets: AWS_ENDPOINT_URL reachable from inside
// a container and the region. Credentials are per task: the agent adds
// AWS_CONTAINER_CREDENTIALS_FULL_URI for tasks with a role.
func containerEnv(tls bool) func(r *http.Request) map[string]string {
	scheme := "http://"
	if tls {
		// Agents mount the cluster CA and set AWS_CA_BUNDLE, so stock SDKs
		// trust this endpoint (host.docker.internal is in its certificate).
		scheme = "https://"
	}
	return func(r *http.Request) map[string]string {
		return map[string]string{
			"AWS_ENDPOINT_URL":   scheme + containerReachable(r.Host),
			"AWS_REGION":         model.Region,
			"AWS_DEFAULT_REGION": model.Region,
		}
	}
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
