package main

import "testing"

// orch dev warns when --listen keeps task containers out (they reach the
// server through the host's bridge, never its loopback).
func TestLoopbackOnly(t *testing.T) {
	for listen, want := range map[string]bool{
		"127.0.0.1:7474": true,
		"localhost:7474": true,
		"[::1]:7474":     true,
		":7474":          false,
		"0.0.0.0:7474":   false,
		"10.0.0.5:7474":  false,
		"bad":            false,
	} {
		if got := loopbackOnly(listen); got != want {
			t.Errorf("loopbackOnly(%q) = %v, want %v", listen, got, want)
		}
	}
}
