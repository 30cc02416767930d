package model

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseTaskCPU parses a task-level cpu value in any form ECS accepts and
// returns CPU units (1024 = 1 vCPU): "1024", "1 vCPU", "1vcpu", "0.5 vcpu".
// The result must be a whole number of units.
func ParseTaskCPU(s string) (int, error) {
	return parseQuantity(s, "CPU units", map[string]float64{"": 1, "vcpu": 1024, "vcpus": 1024},
		`use CPU units ("1024") or vCPUs ("1 vCPU", "0.5 vcpu")`)
}

// ParseTaskMemory parses a task-level memory value in any form ECS accepts
// and returns MiB: "2048", "2 GB", "2GB", "0.5 GiB", "512 MiB". As in ECS,
// GB means GiB (1 GB = 1024 MiB) and MB means MiB.
func ParseTaskMemory(s string) (int, error) {
	return parseQuantity(s, "MiB", map[string]float64{"": 1, "mib": 1, "mb": 1, "gib": 1024, "gb": 1024},
		`use MiB ("2048") or GB ("2 GB", "0.5 GB")`)
}

// maxQuantity keeps parsed sizes far away from integer overflow.
const maxQuantity = 1 << 40

func parseQuantity(s, what string, units map[string]float64, how string) (int, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := units[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("%q is not a valid size: %s", s, how)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a valid size: %s", s, how)
	}
	v *= mult
	if v > maxQuantity {
		return 0, fmt.Errorf("%q is too large", s)
	}
	if v != math.Trunc(v) {
		return 0, fmt.Errorf("%q is %g %s, not a whole number; %s", s, v, what, how)
	}
	return int(v), nil
}
