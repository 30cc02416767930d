package model

import (
	"strings"
	"testing"
)

func TestClusterPolicyHostPaths(t *testing.T) {
	def := DefaultClusterPolicy()
	only := DefaultClusterPolicy()
	only.AllowedHostPaths = []string{"/srv", "/data"}
	for _, tc := range []struct {
		name string
		pol  ClusterPolicy
		path string
		want string // "" allowed, else a substring of the error
	}{
		{"root", def, "/", "host path / is denied by the cluster policy (rule: deniedHostPaths;"},
		{"docker socket", def, "/var/run/docker.sock", "it lies under /var/run, which is denied"},
		{"docker socket via /run", def, "/run/docker.sock", "it lies under /run"},
		{"uncleaned path", def, "/srv/../etc/passwd", "it lies under /etc"},
		{"parent of a denied path", def, "/var", "it contains /var/lib/docker, which is denied"},
		{"proc", def, "/proc", "rule: deniedHostPaths; it is denied"},
		{"orch state", def, "/var/lib/orch/etcd", "lies under /var/lib/orch"},
		{"home (client configs with tokens)", def, "/home/alice/.orch", "lies under /home"},
		{"a data dir", def, "/srv/app", ""},
		{"tmp", def, "/tmp/x", ""},
		{"a sibling of a denied dir", def, "/etcetera", ""},
		{"allowed prefix", only, "/data/db", ""},
		{"outside the allowed prefixes", only, "/tmp/x", "not allowed by the cluster policy (rule: allowedHostPaths: /srv,/data)"},
		{"denied wins over allowed", ClusterPolicy{AllowedHostPaths: []string{"/"}, DeniedHostPaths: []string{"/etc"}}, "/etc/shadow", "rule: deniedHostPaths"},
		{"nothing denied", ClusterPolicy{}, "/", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.pol.CheckHostPath(tc.path)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("%s: %v, want allowed", tc.path, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("%s: %v, want an error containing %q", tc.path, err, tc.want)
			}
		})
	}
}

func TestClusterPolicyRoot(t *testing.T) {
	p := DefaultClusterPolicy()
	p.AllowRoot = false
	for _, tc := range []struct{ user, want string }{
		{"", "an image without USER runs as root"},
		{"0", "user 0 is root"},
		{"root:wheel", "user root:wheel is root"},
		{"1000", ""},
		{"app:app", ""},
	} {
		td := &TaskDefinition{Family: "f", ContainerDefinitions: []ContainerDefinition{{Name: "a", Image: "i", User: tc.user}}}
		err := p.Check(td)
		if tc.want == "" {
			if err != nil {
				t.Errorf("user %q: %v", tc.user, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "containerDefinitions[0].user: ") || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "rule: allowRoot") {
			t.Errorf("user %q: %v, want containerDefinitions[0].user ... %q (rule: allowRoot)", tc.user, err, tc.want)
		}
	}
	def := DefaultClusterPolicy()
	if err := def.Check(&TaskDefinition{Family: "f", ContainerDefinitions: []ContainerDefinition{{Name: "a", Image: "i"}}}); err != nil {
		t.Errorf("the default policy and an image's own user: %v", err)
	}
}

func TestClusterPolicyUnmountedVolume(t *testing.T) {
	td := &TaskDefinition{Family: "f", ContainerDefinitions: []ContainerDefinition{{Name: "a", Image: "i"}},
		Volumes: []Volume{{Name: "v", Host: &HostVolumeSource{SourcePath: "/etc"}}}}
	p := DefaultClusterPolicy()
	if err := p.Check(td); err == nil || !strings.HasPrefix(err.Error(), "volumes[0].host.sourcePath: host path /etc is denied") {
		t.Fatalf("an unmounted host volume of /etc: %v", err)
	}
}
