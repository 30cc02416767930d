package model

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// ClusterPolicy is what task definitions may ask of a host, set by an
// admin (orch policy set, PUT /v1/policy). A task definition that breaks a
// rule is refused when it is registered, and a task or service using one
// registered before the rule was tightened is refused when it is run or
// created. Orch never runs containers privileged or with added Linux
// capabilities (those ECS fields are accepted and ignored), so there is
// no rule for them.
type ClusterPolicy struct {
	// AllowedHostPaths, when not empty, are the only host paths (and what
	// lies under them) a volume may mount. Empty: any path not denied.
	AllowedHostPaths []string `json:"allowedHostPaths"`
	// DeniedHostPaths may not be mounted, nor anything under them, nor a
	// directory that contains one ("/" only matches itself). Denied wins
	// over allowed.
	DeniedHostPaths []string `json:"deniedHostPaths"`
	// AllowRoot lets containers run as root. When false, every container
	// must name a non-root user (an image without USER runs as root).
	AllowRoot bool `json:"allowRoot"`
	// AllowHostNetwork lets task definitions use networkMode host, which
	// shares the host's network namespace (its loopback services too).
	AllowHostNetwork bool `json:"allowHostNetwork"`
}

// Policy rule names, as errors cite them.
const (
	RuleAllowedHostPaths = "allowedHostPaths"
	RuleDeniedHostPaths  = "deniedHostPaths"
	RuleAllowRoot        = "allowRoot"
	RuleAllowHostNetwork = "allowHostNetwork"
)

// DefaultClusterPolicy denies mounting the host's root, system
// directories, the Docker socket and Orch's own state (the server's data,
// the agent's host key, client configs with tokens under /home and
// /root), and host networking; containers may run as root, as under
// Docker by default.
func DefaultClusterPolicy() ClusterPolicy {
	return ClusterPolicy{
		AllowedHostPaths: []string{},
		DeniedHostPaths: []string{
			"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/proc", "/root", "/run", "/sbin", "/sys", "/usr",
			"/var/lib/docker", "/var/lib/orch", "/var/lib/orchlet", "/var/run",
		},
		AllowRoot: true,
	}
}

// Validate checks the policy itself: absolute, clean paths.
func (p *ClusterPolicy) Validate() error {
	var errs FieldErrors
	for _, l := range []struct {
		field string
		paths []string
	}{{RuleAllowedHostPaths, p.AllowedHostPaths}, {RuleDeniedHostPaths, p.DeniedHostPaths}} {
		if len(l.paths) > 256 {
			errs.Add(l.field, fmt.Sprintf("at most 256 paths, got %d", len(l.paths)))
			continue
		}
		for i, hp := range l.paths {
			if !strings.HasPrefix(hp, "/") || path.Clean(hp) != hp || len(hp) > 1024 {
				errs.Add(fmt.Sprintf("%s[%d]", l.field, i), fmt.Sprintf("must be an absolute, clean path such as /srv/data, got %q", hp))
			}
		}
	}
	return errs.Err()
}

// within reports whether p is dir or lies under it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// deniedBy returns the denied entry hp runs into: hp is it, lies under it,
// or contains it; "/" matches only itself.
func (p *ClusterPolicy) deniedBy(hp string) (string, bool) {
	for _, d := range p.DeniedHostPaths {
		if d == "/" {
			if hp == "/" {
				return d, true
			}
			continue
		}
		if within(hp, d) || within(d, hp) {
			return d, true
		}
	}
	return "", false
}

// CheckHostPath checks one host path; the error says which rule refuses it.
func (p *ClusterPolicy) CheckHostPath(hp string) error {
	clean := path.Clean(hp)
	if d, ok := p.deniedBy(clean); ok {
		how := "it is"
		switch {
		case d != clean && within(clean, d):
			how = "it lies under " + d + ", which is"
		case d != clean:
			how = "it contains " + d + ", which is"
		}
		return fmt.Errorf("host path %s is denied by the cluster policy (rule: %s; %s denied); an admin can allow it by removing %s from deniedHostPaths (orch policy get -o yaml > policy.yaml, edit, orch policy set -f policy.yaml)",
			hp, RuleDeniedHostPaths, how, d)
	}
	if len(p.AllowedHostPaths) > 0 && !slices.ContainsFunc(p.AllowedHostPaths, func(a string) bool { return within(clean, a) }) {
		return fmt.Errorf("host path %s is not allowed by the cluster policy (rule: %s: %s); an admin can allow it with orch policy set --allowed-host-paths=...",
			hp, RuleAllowedHostPaths, strings.Join(p.AllowedHostPaths, ","))
	}
	return nil
}

// isRoot reports whether a container's user is root ("0", "root",
// "0:0", "root:wheel", ...).
func isRoot(user string) bool {
	u, _, _ := strings.Cut(user, ":")
	return u == "0" || u == "root"
}

// Check returns every way td breaks the policy, each at its field path
// and naming the rule; nil if it complies.
func (p *ClusterPolicy) Check(td *TaskDefinition) error {
	var errs FieldErrors
	if td.NetworkMode == "host" && !p.AllowHostNetwork {
		errs.Add("networkMode", fmt.Sprintf("networkMode host is denied by the cluster policy (rule: %s); use bridge or awsvpc, or an admin can allow it with orch policy set --allow-host-network", RuleAllowHostNetwork))
	}
	mounted := map[string]bool{}
	for i, c := range td.ContainerDefinitions {
		base := fmt.Sprintf("containerDefinitions[%d]", i)
		if !p.AllowRoot {
			switch {
			case c.User == "":
				errs.Add(base+".user", fmt.Sprintf("the cluster policy requires a non-root user (rule: %s) and an image without USER runs as root; set user to a UID other than 0 (e.g. \"1000\")", RuleAllowRoot))
			case isRoot(c.User):
				errs.Add(base+".user", fmt.Sprintf("user %s is root, which the cluster policy denies (rule: %s); set a UID other than 0, or an admin can allow it with orch policy set --allow-root", c.User, RuleAllowRoot))
			}
		}
		for j, m := range c.MountPoints {
			v := td.Volume(m.SourceVolume)
			if v == nil || v.Host == nil || v.Host.SourcePath == "" {
				continue
			}
			mounted[v.Name] = true
			if err := p.CheckHostPath(v.Host.SourcePath); err != nil {
				errs.Add(fmt.Sprintf("%s.mountPoints[%d]", base, j), fmt.Sprintf("volume %q: %v", m.SourceVolume, err))
			}
		}
	}
	for i, v := range td.Volumes {
		if v.Host == nil || v.Host.SourcePath == "" || mounted[v.Name] {
			continue
		}
		if err := p.CheckHostPath(v.Host.SourcePath); err != nil {
			errs.Add(fmt.Sprintf("volumes[%d].host.sourcePath", i), err.Error())
		}
	}
	return errs.Err()
}

// Volume returns the task definition's volume called name, or nil.
func (td *TaskDefinition) Volume(name string) *Volume {
	for i := range td.Volumes {
		if td.Volumes[i].Name == name {
			return &td.Volumes[i]
		}
	}
	return nil
}
