// Package docker implements [runtime.Runtime] with the Docker Engine API. It
// is the only package in Orch that imports the Docker SDK, and it uses a
// narrow subset of it (the unexported dockerAPI interface), so tests can
// substitute the client.
//
// The client is configured from the environment (DOCKER_HOST,
// DOCKER_API_VERSION, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY) and negotiates
// the API version with the daemon, so it works with old engines (API 1.41).
//
// Images are pulled with credentials from the Docker CLI's config file
// ($DOCKER_CONFIG/config.json or ~/.docker/config.json): credHelpers,
// credsStore and auths entries (base64 "auth" or username/password), matched
// by the registry host of the image reference.
//
// Every container it creates carries the label orch.managed=true; List and
// Events only see such containers.
//
// Example:
//
//	rt, err := docker.New()
//	if err != nil {
//		return err
//	}
//	defer rt.Close()
//	if err := rt.EnsureImage(ctx, "orch-example/web:latest", "if-not-present"); err != nil {
//		return err
//	}
//	id, err := rt.Create(ctx, runtime.ContainerSpec{
//		Name:  "web-1",
//		Image: "orch-example/web:latest",
//		Ports: []runtime.PortSpec{{ContainerPort: 8080}}, // dynamic host port
//	})
//	if err != nil {
//		return err
//	}
//	return rt.Start(ctx, id)
package docker
