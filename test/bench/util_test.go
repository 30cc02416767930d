package bench

import "github.com/orch-project/orch/pkg/model"

func modelResources(n int) model.Resources { return model.Resources{CPU: n, MemoryMiB: n} }
