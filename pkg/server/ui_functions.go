package server

import (
	"context"
	"sort"
	"strings"

	"github.com/orch-project/orch/pkg/function"
	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/ui"
)

// maxReportLines is how many recent REPORT lines the function page shows.
const maxReportLines = 20

// Functions lists the functions for the dashboard with this replica's
// metering and the environments the agents reported.
func (b uiBackend) Functions(ctx context.Context) ([]ui.FunctionInfo, error) {
	if b.fns == nil {
		return nil, nil
	}
	fs, err := b.fns.List(ctx)
	if err != nil {
		return nil, err
	}
	usage := map[string]function.Usage{}
	for _, u := range b.fns.Usage() {
		usage[u.Function] = u
	}
	out := make([]ui.FunctionInfo, 0, len(fs))
	for _, f := range fs {
		out = append(out, b.functionInfo(f, usage[f.FunctionName]))
	}
	return out, nil
}

// Function is one function's page: configuration, mappings, the latest
// REPORT lines this replica saw (newest first).
func (b uiBackend) Function(ctx context.Context, name string) (*ui.FunctionDetail, error) {
	if b.fns == nil {
		return nil, model.ErrNotFound
	}
	f, err := b.fns.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	var u function.Usage
	for _, x := range b.fns.Usage() {
		if x.Function == f.FunctionName {
			u = x
		}
	}
	ms, err := b.fns.ListMappings(ctx, f.FunctionName, "")
	if err != nil {
		return nil, err
	}
	var reports []string
	lines := strings.Split(string(b.fns.Logs(f.FunctionName)), "\n")
	for i := len(lines) - 1; i >= 0 && len(reports) < maxReportLines; i-- {
		if strings.HasPrefix(lines[i], "REPORT ") {
			reports = append(reports, lines[i])
		}
	}
	return &ui.FunctionDetail{FunctionInfo: b.functionInfo(f, u), Mappings: ms, Reports: reports}, nil
}

// functionInfo copies what the dashboard shows. Environment variables go
// by name only: their values may be secrets (the dashboard's viewers may
// read pages, not secrets).
func (b uiBackend) functionInfo(f *model.StoredFunction, u function.Usage) ui.FunctionInfo {
	fi := ui.FunctionInfo{Name: f.FunctionName, Arn: f.FunctionArn, Image: f.Code.ImageUri, Role: f.Role, Description: f.Description,
		MemoryMiB: f.MemorySize, Timeout: f.Timeout, Reserved: f.ReservedConcurrentExecutions, LastModified: f.LastModified,
		Warm: b.fns.Hub().Environments(f.FunctionName), Inflight: b.fns.Hub().Inflight(f.FunctionName)}
	fi.Usage = functionUsage(u)
	fi.Usage.Function = f.FunctionName
	if f.Environment != nil {
		for k := range f.Environment.Variables {
			fi.EnvNames = append(fi.EnvNames, k)
		}
		sort.Strings(fi.EnvNames)
	}
	if d := f.DeadLetterConfig; d != nil && d.TargetArn != "" {
		fi.DeadLetterQueue = d.TargetArn[strings.LastIndexByte(d.TargetArn, ':')+1:]
	}
	return fi
}
