package wire

import "github.com/orch-project/orch/pkg/model"

// NodeView is a node with what runs on it (GET /v1/nodes).
type NodeView = model.NodeView
