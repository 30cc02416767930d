package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// Pull policies (runtime.ContainerSpec.PullPolicy, model.PullAlways, ...).
const (
	pullAlways       = "always"
	pullIfNotPresent = "if-not-present"
	pullNever        = "never"
)

// normalizePolicy accepts the documented spellings and the Kubernetes ones
// (Always, IfNotPresent, Never); "" means if-not-present.
func normalizePolicy(policy string) (string, error) {
	p := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(strings.TrimSpace(policy)))
	switch p {
	case "", "ifnotpresent", "missing":
		return pullIfNotPresent, nil
	case "always":
		return pullAlways, nil
	case "never":
		return pullNever, nil
	}
	return "", fmt.Errorf("unknown imagePullPolicy %q (want always, if-not-present or never)", policy)
}

// imageNotPresentError says the image is missing and the policy forbids
// pulling it; it matches runtime.ErrNotFound.
type imageNotPresentError struct{ image string }

func (e *imageNotPresentError) Error() string {
	return fmt.Sprintf("image %s is not present on this host and imagePullPolicy is never", e.image)
}
func (e *imageNotPresentError) Unwrap() error { return runtime.ErrNotFound }

// EnsureImage makes image available: policy always pulls it, if-not-present
// pulls it only when it is missing, never fails when it is missing. Pull
// errors carry Docker's message.
func (r *Runtime) EnsureImage(ctx context.Context, img, policy string) error {
	p, err := normalizePolicy(policy)
	if err != nil {
		return err
	}
	if p != pullAlways {
		present, err := r.imagePresent(ctx, img)
		if err != nil {
			return err
		}
		if present {
			return nil
		}
		if p == pullNever {
			return &imageNotPresentError{image: img}
		}
	}
	return r.pull(ctx, img)
}

func (r *Runtime) imagePresent(ctx context.Context, img string) (bool, error) {
	_, err := r.api.ImageInspect(ctx, img)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("docker image inspect %s: %w", img, err)
	}
}

// pull pulls img and waits for the pull to finish; the daemon reports most
// failures inside the progress stream, not as the HTTP status.
func (r *Runtime) pull(ctx context.Context, img string) error {
	auth, warn := r.registryAuth(ctx, img)
	if warn != nil {
		r.log.Warn("registry credentials", "image", img, "err", warn)
	}
	rc, err := r.api.ImagePull(ctx, img, image.PullOptions{RegistryAuth: auth})
	if err == nil {
		err = readPullStream(rc)
		rc.Close()
	}
	if err != nil {
		if warn != nil {
			return fmt.Errorf("pull %s: %w (registry credentials: %v)", img, err, warn)
		}
		return fmt.Errorf("pull %s: %w", img, err)
	}
	r.log.Debug("pulled image", "image", img)
	return nil
}

// pullMessage is one line of the daemon's JSON progress stream.
type pullMessage struct {
	Status      string `json:"status"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// readPullStream drains a pull's progress stream and returns the error it
// reports, if any.
func readPullStream(rc io.Reader) error {
	dec := json.NewDecoder(rc)
	for {
		var m pullMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read pull progress: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}
