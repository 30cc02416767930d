// Package fake is an in-memory runtime.Runtime with scripted containers, for
// tests and for hollow nodes (hundreds of agents with dozens of tasks each in
// one process). It holds no goroutine per container: a container that exits
// on its own, turns healthy or is killed after a stop timeout does so from a
// time.AfterFunc timer, so it costs a map entry and at most a couple of
// pending timers. Inside a testing/synctest bubble those timers run on the
// bubble's fake clock, which makes scripted durations exact and instant.
//
// # Scripting a container
//
// A container's behaviour comes from a script: comma-separated keys, each
// "key=value" or a bare "flag". The script is read from the label
// "orch.fake" and then from the environment variable ORCH_FAKE (a key in
// the environment wins over the same key in the label):
//
//	ORCH_FAKE="run_for=2s,exit_code=3"
//	ORCH_FAKE="start_error=exec: \"nope\": executable file not found in $PATH"
//	ORCH_FAKE="health=healthy_after:1s"
//
// A value may not contain a comma. Keys:
//
//	run_for=DUR        exit on its own DUR after start (default: run until stopped)
//	exit_code=N        exit code when it exits on its own (default 0)
//	oom                when run_for elapses, die OOM-killed with exit code 137
//	start_error=TEXT   Start fails with TEXT; the container stays "created"
//	                   with State.Error = TEXT and exit code 128
//	create_error=TEXT  Create fails with TEXT
//	pull_error=TEXT    Create fails with TEXT, as a missing image would; to make
//	                   EnsureImage itself fail use SetPullError or an image
//	                   name containing "unpullable"
//	health=H           only with a health check in the spec (without one the
//	                   container has no health, as in Docker). H is healthy,
//	                   unhealthy, starting (never resolves), healthy_after:DUR
//	                   or unhealthy_after:DUR (starting until then). Default
//	                   with a check: healthy as soon as it starts
//	ignore_sigterm     Stop waits the whole timeout, then kills: exit code 137
//	stop_delay=DUR     takes DUR to exit after the stop signal (exit code 143);
//	                   if DUR >= the stop timeout it is killed instead (137)
//	cpu=PCT            Stats CPU percent while running (default 0.5)
//	memory=MIB         Stats memory while running (default: the soft limit,
//	                   else half the hard limit, else 16 MiB)
//	log_lines=N        synthetic lines written at start (default 3)
//	log_every=DUR      one more line every DUR while running (default never)
//	log=TEXT           text of the synthetic lines (default "hello from NAME")
//
// An unknown key or a malformed value makes Create fail with a message that
// lists the known keys.
//
// # Defaults
//
// A container runs until stopped. Stop sends "SIGTERM": the container exits
// with 143 at once (or after stop_delay), or with 137 when it ignores SIGTERM
// and the timeout elapses; a zero timeout kills at once (137), like
// docker stop -t 0. Remove kills a running container (137). Images:
// every image pulls successfully unless SetPullError names it or its name
// contains "unpullable"; Create fails with "No such image" when the image was
// neither pulled nor listed in Config.Images. Dynamic host ports come from
// 32768 upwards; a static host port already published by a running container
// makes Start fail with Docker's "port is already allocated" text.
//
// List and Events cover Orch-managed containers only (label
// orch.managed=true), as the runtime contract says; Containers returns all.
//
// # Test helpers
//
// Exit simulates a crash, SetHealth changes health, BreakEvents and SetDown
// simulate a daemon restart or outage (containers keep running, as with
// Docker's live-restore), SetPullError and AddImages script images, Spec
// returns what a container was created with, Containers lists all of them,
// and Journal (with Config.Journal) records lifecycle operations in order
// so tests can assert that one container started after another turned
// healthy. There is no injected clock: run tests inside a testing/synctest
// bubble to make scripted durations instant and exact.
//
// Example:
//
//	rt := fake.New(fake.Config{CPU: 2048, MemoryMiB: 4096})
//	_ = rt.EnsureImage(ctx, "busybox", "if-not-present")
//	id, _ := rt.Create(ctx, runtime.ContainerSpec{
//		Name: "job", Image: "busybox",
//		Env:  []string{"ORCH_FAKE=run_for=1s,exit_code=3"},
//		Labels: map[string]string{runtime.LabelManaged: "true"},
//	})
//	_ = rt.Start(ctx, id) // one second later: exited with code 3
package fake
