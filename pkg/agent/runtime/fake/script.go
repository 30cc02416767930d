package fake

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/agent/runtime"
)

// ScriptEnv and ScriptLabel carry a container's script.
const (
	ScriptEnv   = "ORCH_FAKE"
	ScriptLabel = "orch.fake"
)

// script is a container's scripted behaviour.
type script struct {
	runFor        time.Duration
	hasRunFor     bool
	exitCode      int
	oom           bool
	startErr      string
	createErr     string
	pullErr       string
	health        string // "", healthy, unhealthy, starting
	healthAfter   time.Duration
	ignoreSigterm bool
	stopDelay     time.Duration
	cpu           float64
	hasCPU        bool
	memMiB        int64
	hasMem        bool
	logLines      int
	logEvery      time.Duration
	logText       string
}

var scriptKeys = "run_for, exit_code, oom, start_error, create_error, pull_error, health, ignore_sigterm, stop_delay, cpu, memory, log_lines, log_every, log"

// scriptFor reads the label and then the environment variable.
func scriptFor(spec runtime.ContainerSpec) (script, error) {
	s := script{logLines: 3}
	if v := spec.Labels[ScriptLabel]; v != "" {
		if err := s.parse(v); err != nil {
			return s, fmt.Errorf("fake: label %s: %w", ScriptLabel, err)
		}
	}
	for _, kv := range spec.Env {
		if v, ok := strings.CutPrefix(kv, ScriptEnv+"="); ok {
			if err := s.parse(v); err != nil {
				return s, fmt.Errorf("fake: env %s: %w", ScriptEnv, err)
			}
		}
	}
	return s, nil
}

func (s *script) parse(text string) error {
	for item := range strings.SplitSeq(text, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, hasVal := strings.Cut(item, "=")
		key = strings.TrimSpace(key)
		dur := func() (time.Duration, error) {
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				return 0, fmt.Errorf("%s=%q: want a duration such as 2s or 150ms", key, val)
			}
			return d, nil
		}
		need := func() error {
			if !hasVal {
				return fmt.Errorf("%s needs a value (%s=...)", key, key)
			}
			return nil
		}
		var err error
		switch key {
		case "run_for":
			if err = need(); err == nil {
				s.runFor, err = dur()
				s.hasRunFor = true
			}
		case "exit_code":
			if err = need(); err == nil {
				s.exitCode, err = strconv.Atoi(val)
				if err != nil {
					err = fmt.Errorf("exit_code=%q: want an integer", val)
				}
			}
		case "oom":
			s.oom = true
		case "start_error":
			err = need()
			s.startErr = val
		case "create_error":
			err = need()
			s.createErr = val
		case "pull_error":
			err = need()
			s.pullErr = val
		case "health":
			if err = need(); err == nil {
				err = s.parseHealth(val)
			}
		case "ignore_sigterm":
			s.ignoreSigterm = true
		case "stop_delay":
			if err = need(); err == nil {
				s.stopDelay, err = dur()
			}
		case "cpu":
			if err = need(); err == nil {
				s.cpu, err = strconv.ParseFloat(val, 64)
				s.hasCPU = true
				if err != nil {
					err = fmt.Errorf("cpu=%q: want a percentage such as 12.5", val)
				}
			}
		case "memory":
			if err = need(); err == nil {
				s.memMiB, err = strconv.ParseInt(val, 10, 64)
				s.hasMem = true
				if err != nil {
					err = fmt.Errorf("memory=%q: want MiB as an integer", val)
				}
			}
		case "log_lines":
			if err = need(); err == nil {
				s.logLines, err = strconv.Atoi(val)
				if err != nil || s.logLines < 0 {
					err = fmt.Errorf("log_lines=%q: want a non-negative integer", val)
				}
			}
		case "log_every":
			if err = need(); err == nil {
				s.logEvery, err = dur()
			}
		case "log":
			err = need()
			s.logText = val
		default:
			err = fmt.Errorf("unknown key %q (known: %s)", key, scriptKeys)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *script) parseHealth(v string) error {
	switch {
	case v == "healthy" || v == "unhealthy" || v == "starting":
		s.health, s.healthAfter = v, 0
		return nil
	case strings.HasPrefix(v, "healthy_after:") || strings.HasPrefix(v, "unhealthy_after:"):
		h, ds, _ := strings.Cut(v, "_after:")
		d, err := time.ParseDuration(ds)
		if err != nil || d < 0 {
			return fmt.Errorf("health=%q: want a duration after the colon, e.g. healthy_after:1s", v)
		}
		s.health, s.healthAfter = h, d
		return nil
	}
	return fmt.Errorf("health=%q: want healthy, unhealthy, starting, healthy_after:DUR or unhealthy_after:DUR", v)
}
