package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

// usageCmd prints what the bills are based on: per function Lambda's
// figures (this server's meter), per service and task Fargate's.
func usageCmd(g *globals) *cobra.Command {
	var output string
	var tasks bool
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show metered usage: functions (invocations, errors, throttles, duration p50/p99, GB-seconds), services and tasks (vCPU- and GB-seconds)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			u, err := c.Usage(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output != "table" {
				return printObject(w, output, u)
			}
			t := newTable(w, "FUNCTION", "INVOCATIONS", "ERRORS", "THROTTLES", "COLD STARTS", "P50", "P99", "BILLED", "GB-SECONDS", "MAX MEMORY")
			for _, f := range u.Functions {
				t.row(f.Function, i64(f.Invocations), i64(f.Errors), i64(f.Throttles), i64(f.ColdStarts),
					fmt.Sprintf("%.2f ms", f.P50Ms), fmt.Sprintf("%.2f ms", f.P99Ms), fmt.Sprintf("%d ms", f.BilledMs), fmt.Sprintf("%.6f", f.GBSeconds), maxMemory(f.MaxMemoryUsedMB))
			}
			_ = t.flush()
			fmt.Fprintln(w)
			t = newTable(w, "SERVICE", "TASKS", "VCPU-SECONDS", "GB-SECONDS")
			for _, s := range u.Services {
				name := s.Service
				if name == "" {
					name = "(standalone tasks)"
				}
				t.row(name, strconv.Itoa(s.Tasks), fmt.Sprintf("%.1f", s.VCPUSeconds), fmt.Sprintf("%.1f", s.GBSeconds))
			}
			_ = t.flush()
			if !tasks {
				return nil
			}
			fmt.Fprintln(w)
			t = newTable(w, "TASK", "SERVICE", "FAMILY", "STATE", "SECONDS", "VCPU-SECONDS", "GB-SECONDS")
			for _, tu := range u.Tasks {
				state := "stopped"
				if tu.Running {
					state = "running"
				}
				t.row(tu.TaskID, dash(tu.Service), tu.Family, state, fmt.Sprintf("%.0f", tu.Seconds), fmt.Sprintf("%.1f", tu.VCPUSeconds), fmt.Sprintf("%.1f", tu.GBSeconds))
			}
			_ = t.flush()
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, json or yaml")
	cmd.Flags().BoolVar(&tasks, "tasks", false, "also list each task")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// maxMemory shows a function's highest Max Memory Used ("-" when unknown).
func maxMemory(mb int) string {
	if mb <= 0 {
		return "-"
	}
	return strconv.Itoa(mb) + " MB"
}
