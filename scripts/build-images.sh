#!/usr/bin/env bash
# Builds Orch's example app images from examples/apps/NAME (Go, standard
# library only) FROM scratch:
#
#   orch-example/web:latest  orch-example/job:latest  orch-example/tools:latest
#
# Each binary is built static (CGO_ENABLED=0, -trimpath, -s -w) into a temp
# build context with its Dockerfile, then `docker build` runs with the legacy
# builder (DOCKER_BUILDKIT=0; no registry or internet needed). The image is
# labelled with the binary's sha256 and the Dockerfile's; when an image with
# the same hashes exists the build is skipped, so repeated runs are fast.
#
# Usage: scripts/build-images.sh [-f|--force] [NAME...]   (default: all apps)
# Env:   ORCH_IMAGE_PREFIX (default orch-example), ORCH_IMAGE_TAG (default latest)
set -euo pipefail

cd "$(dirname "$0")/.."
prefix="${ORCH_IMAGE_PREFIX:-orch-example}"
tag="${ORCH_IMAGE_TAG:-latest}"
force=0
apps=()
for arg in "$@"; do
	case "$arg" in
	-f | --force) force=1 ;;
	-h | --help)
		sed -n '2,16p' "$0"
		exit 0
		;;
	*) apps+=("$arg") ;;
	esac
done
if [ ${#apps[@]} -eq 0 ]; then
	apps=(web job tools coffee receipt news)
fi

command -v docker >/dev/null || {
	echo "build-images: docker CLI not found" >&2
	exit 1
}
command -v go >/dev/null || {
	echo "build-images: go not found" >&2
	exit 1
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for app in "${apps[@]}"; do
	src="examples/apps/$app"
	if [ ! -f "$src/Dockerfile" ]; then
		echo "build-images: $src/Dockerfile not found" >&2
		exit 1
	fi
	image="$prefix/$app:$tag"
	ctx="$work/$app"
	mkdir -p "$ctx"
	CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false -ldflags '-s -w' -o "$ctx/$app" "./$src"
	cp "$src/Dockerfile" "$ctx/Dockerfile"
	bin_sha="$(sha "$ctx/$app")"
	df_sha="$(sha "$ctx/Dockerfile")"

	old_id="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
	if [ "$force" = 0 ] && [ -n "$old_id" ]; then
		have="$(docker image inspect -f '{{index .Config.Labels "orch.example.binary-sha256"}} {{index .Config.Labels "orch.example.dockerfile-sha256"}}' "$image" 2>/dev/null || true)"
		if [ "$have" = "$bin_sha $df_sha" ]; then
			echo "build-images: $image up to date (binary ${bin_sha:0:12})"
			continue
		fi
	fi

	echo "build-images: building $image (binary ${bin_sha:0:12})"
	# The legacy builder prints a deprecation notice on stderr: show the
	# output only when the build fails.
	if ! out="$(DOCKER_BUILDKIT=0 docker build -q \
		--label orch.example=true \
		--label "orch.example.app=$app" \
		--label "orch.example.binary-sha256=$bin_sha" \
		--label "orch.example.dockerfile-sha256=$df_sha" \
		-t "$image" "$ctx" 2>&1)"; then
		echo "$out" >&2
		echo "build-images: docker build of $image failed" >&2
		exit 1
	fi
	new_id="$(docker image inspect -f '{{.Id}}' "$image")"
	echo "build-images: built $image ${new_id:7:12}"
	# Drop the image this build replaced, if nothing else uses it.
	if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
		docker image rm "$old_id" >/dev/null 2>&1 && echo "build-images: removed old ${old_id:7:12}" || true
	fi
done
