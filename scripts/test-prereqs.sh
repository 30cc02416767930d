#!/usr/bin/env bash
# Says, before `make test` runs, which groups of tests will be skipped on
# this machine and what to install to run them: `go test` hides skip
# messages of passing packages, so without this a missing tool goes
# unnoticed. With CI=true those tests fail instead of skipping (.ci/run
# installs everything). Always exits 0: the tests decide.
#
# Usage: scripts/test-prereqs.sh
set -uo pipefail

skip() { # group, what is missing, how to install it
	if [ "${CI:-}" = true ]; then
		printf 'make test: %s will FAIL (CI=true): %s; %s\n' "$1" "$2" "$3"
	else
		printf 'make test: skipping %s: %s; to run it: %s\n' "$1" "$2" "$3"
	fi
}

if ! docker version >/dev/null 2>&1; then
	skip "the Docker tests (test/e2e, pkg/agent/runtime/docker)" "Docker is not reachable" "start dockerd (and run make images)"
fi
if [ ! -x /usr/bin/docker-registry ]; then
	skip "the registry pull tests (pkg/agent/runtime/docker)" "/usr/bin/docker-registry is missing" "apt-get install -y docker-registry"
fi
if ! { dpkg -L awscli 2>/dev/null | grep -q '/bin/aws$' || [ -x /usr/bin/aws ]; }; then
	skip "the awscli query-protocol conformance test (test/queue)" "Debian's awscli 2.9 is missing" "apt-get install -y awscli"
fi
if ! python3 -c 'import boto3' >/dev/null 2>&1; then
	skip "the boto3 conformance test (test/queue)" "python3 with boto3 is missing" "apt-get install -y python3-boto3"
fi
if [ "$(id -u)" != 0 ]; then
	skip "the Docker daemon restart test (test/e2e)" "it starts a private dockerd, which needs root" "run make test as root"
	skip "the multi-host tests (test/e2e: node loss, chaos, placement, upgrade)" "network namespaces and a dockerd per host need root" "run make test as root"
fi
if ! command -v ip >/dev/null || ! command -v nsenter >/dev/null; then
	skip "the multi-host tests (test/e2e: node loss, chaos, placement, upgrade)" "ip or nsenter is missing" "apt-get install -y iproute2 util-linux"
fi
if [ -z "${ORCH_UPGRADE_FROM:-}" ] && ! git rev-parse --verify --quiet 'HEAD~1^{commit}' >/dev/null 2>&1; then
	printf 'make test: the upgrade test (test/e2e) upgrades from HEAD itself: this checkout has no HEAD~1; use a full git clone, or set ORCH_UPGRADE_FROM=REV\n'
fi
if ! command -v etcd >/dev/null; then
	printf 'make test: the external etcd tests (test/e2e) will FAIL: etcd is missing; apt-get install -y etcd-server\n'
fi
exit 0
