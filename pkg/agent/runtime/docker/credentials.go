package docker

import (
	"context"
	"fmt"
	"net"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
)

// CredentialsIP is the address ECS serves task credentials on, and one
// of the few the stock SDKs fetch container credentials from over plain
// HTTP (besides loopback, which inside a container is the container).
const CredentialsIP = "169.254.170.2"

// CredentialsNetwork is the Docker network that puts CredentialsIP on
// this host: its bridge's gateway address. Containers need not join it;
// on the default bridge they reach the host's addresses through their
// gateway, so the agent's task endpoint listener (on 0.0.0.0) answers at
// CredentialsIP. Docker creates and owns the address: no iptables rules,
// no sysctl, nothing to undo by hand (docker network rm removes it).
const CredentialsNetwork = "orch-credentials"

type networkAPI interface {
	NetworkInspect(ctx context.Context, networkID string, options network.InspectOptions) (network.Inspect, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
}

// EnsureCredentialsAddress makes CredentialsIP an address of this host
// (creating CredentialsNetwork unless it, or the address, is there
// already) and returns it.
func (r *Runtime) EnsureCredentialsAddress(ctx context.Context) (string, error) {
	if hostHas(CredentialsIP) {
		return CredentialsIP, nil
	}
	api, ok := r.api.(networkAPI)
	if !ok {
		return "", fmt.Errorf("docker: this client cannot manage networks")
	}
	if _, err := api.NetworkInspect(ctx, CredentialsNetwork, network.InspectOptions{}); err == nil {
		return CredentialsIP, nil
	}
	_, err := api.NetworkCreate(ctx, CredentialsNetwork, network.CreateOptions{
		Driver: "bridge",
		IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: "169.254.170.0/24", Gateway: CredentialsIP}}},
		Labels: map[string]string{"orch.managed": "true"},
	})
	if err != nil && !cerrdefs.IsConflict(err) {
		// Another agent on this host may have created it meanwhile.
		if _, ierr := api.NetworkInspect(ctx, CredentialsNetwork, network.InspectOptions{}); ierr != nil {
			return "", fmt.Errorf("docker: creating network %s (%s on this host, for task credentials): %w", CredentialsNetwork, CredentialsIP, err)
		}
	}
	return CredentialsIP, nil
}

func hostHas(ip string) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.String() == ip {
			return true
		}
	}
	return false
}
