package api

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// agentNonce hands an agent a single-use nonce to sign for its next
// registration (host identity, see auth.NodeProofMessage).
func (s *core) agentNonce(w http.ResponseWriter, r *http.Request) {
	n, err := s.cfg.Nodes.Nonce(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.NonceResponse{Nonce: n})
}

func (s *core) agentRegister(w http.ResponseWriter, r *http.Request) {
	var req wire.RegisterRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	noteObject(r, "node "+req.Name)
	if s.cfg.IssueNodeCert != nil {
		// A TLS cluster reaches the agent by mutual TLS: it keeps no
		// callback token.
		req.CallbackToken = ""
	}
	n, err := s.cfg.Nodes.Register(r.Context(), req)
	if err != nil {
		if errors.Is(err, model.ErrNodeNameTaken) {
			s.log.Warn("node registration refused: the name is bound to another host's key", "node", req.Name)
		}
		writeError(w, err)
		return
	}
	// Only now, the host's key proven: a TLS cluster issues the node a
	// certificate for its log server. Without a serving key (a hand-made
	// registration) there is none, and its logs cannot be fetched: never
	// in clear.
	var nodeCert string
	if s.cfg.IssueNodeCert != nil && req.ServingKey != "" {
		c, err := s.cfg.IssueNodeCert(n.Name, req.ServingKey)
		if err != nil {
			writeError(w, &apiError{http.StatusBadRequest, "InvalidRegistration", err.Error()})
			return
		}
		nodeCert = c
	}
	// Every registration gets a fresh node token, valid for this node's
	// endpoints only; the previous one stops working.
	nodeToken := NewToken("orchnode_")
	if err := s.cfg.Tokens.SetNodeToken(r.Context(), n.Name, nodeToken); err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("node registered", "node", n.Name, "address", n.Address, "cpu", n.Capacity.CPU, "memoryMiB", n.Capacity.MemoryMiB)
	resp := wire.RegisterResponse{Node: *n, HeartbeatInterval: s.cfg.Nodes.HeartbeatInterval(), NodeToken: nodeToken, ClusterID: s.cfg.ClusterID, NodeCert: nodeCert}
	resp.Node.CallbackToken = ""
	if s.cfg.ContainerEnv != nil {
		resp.Env = s.cfg.ContainerEnv(r)
	}
	writeJSON(w, http.StatusOK, resp)
}

// agentCertificate issues a registered node a new certificate for its log
// server, before the one it has expires (the agent asks at 2/3 of its
// lifetime). Only that node's token reaches it (the node routes check the
// {name} against the token), so a node gets certificates for its own name
// only, as at registration.
func (s *core) agentCertificate(w http.ResponseWriter, r *http.Request) {
	node := r.PathValue("name")
	noteObject(r, "node "+node)
	var req wire.NodeCertRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if s.cfg.IssueNodeCert == nil {
		writeError(w, &apiError{http.StatusConflict, "NoNodeCertificates", "this cluster serves plain HTTP: it issues no node certificates (logs are fetched with the callback token)"})
		return
	}
	if req.ServingKey == "" {
		writeError(w, &apiError{http.StatusBadRequest, "InvalidRequest", "servingKey is required: the base64 PKIX public key of the node's log server"})
		return
	}
	if _, err := s.cfg.Nodes.Lookup(node); err != nil {
		writeError(w, &apiError{http.StatusNotFound, "UnknownNode", fmt.Sprintf("node %s is not registered; register again", node)})
		return
	}
	c, err := s.cfg.IssueNodeCert(node, req.ServingKey)
	if err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "InvalidRequest", "servingKey: " + err.Error()})
		return
	}
	s.log.Info("node certificate renewed", "node", node)
	writeJSON(w, http.StatusOK, wire.NodeCertResponse{NodeCert: c})
}

func (s *core) agentHeartbeat(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Nodes.Heartbeat(r.Context(), r.PathValue("name")); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			writeError(w, &apiError{http.StatusNotFound, "UnknownNode", fmt.Sprintf("node %s is not registered; register again", r.PathValue("name"))})
			return
		}
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *core) agentStatus(w http.ResponseWriter, r *http.Request) {
	var batch wire.StatusBatch
	if err := decode(w, r, &batch); err != nil {
		writeError(w, err)
		return
	}
	if err := s.cfg.Tasks.ApplyReports(r.Context(), r.PathValue("name"), batch.Reports); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// streamPing keeps idle assignment streams visibly alive; agents treat a
// stream silent for 3 pings as broken.
const streamPing = 15 * time.Second

// agentAssignments streams the node's assignments as NDJSON: a snapshot,
// then a line per new assignment, desired-status change or deletion, as
// soon as the server's cache sees it (no polling).
func (s *core) agentAssignments(w http.ResponseWriter, r *http.Request) {
	node := r.PathValue("name")
	if _, err := s.cfg.Nodes.Lookup(node); err != nil {
		writeError(w, &apiError{http.StatusNotFound, "UnknownNode", fmt.Sprintf("node %s is not registered; register again", node)})
		return
	}
	sub := s.cfg.Source.SubscribeTasks(func(ch TaskChange) bool {
		switch {
		case ch.Task != nil && ch.Task.NodeName == node:
			// New to this node, or its desired status changed; status
			// reports the agent itself sent are not echoed back.
			return ch.Prev == nil || ch.Prev.NodeName != node || ch.Prev.DesiredStatus != ch.Task.DesiredStatus
		case ch.Prev != nil && ch.Prev.NodeName == node:
			return true // deleted
		}
		return false
	})
	defer sub.Close()

	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	send := func(ev wire.AssignmentEvent) bool {
		if err := enc.Encode(ev); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}

	snap := wire.AssignmentEvent{Type: wire.EventSnapshot, Assignments: []wire.Assignment{}}
	for _, ch := range sub.Drain() {
		if a, ok := s.assignment(r, ch.Task); ok {
			snap.Assignments = append(snap.Assignments, a)
		}
	}
	if !send(snap) {
		return
	}
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			if !send(wire.AssignmentEvent{Type: wire.EventPing}) {
				return
			}
		case <-sub.C():
			for _, ch := range sub.Drain() {
				var ev wire.AssignmentEvent
				if ch.Task == nil || ch.Task.NodeName != node {
					ev = wire.AssignmentEvent{Type: wire.EventDelete, TaskID: ch.TaskID}
				} else if a, ok := s.assignment(r, ch.Task); ok {
					ev = wire.AssignmentEvent{Type: wire.EventPut, Assignments: []wire.Assignment{a}}
				} else {
					continue
				}
				if !send(ev) {
					return
				}
			}
		}
	}
}

func (s *core) assignment(r *http.Request, t *model.Task) (wire.Assignment, bool) {
	if t == nil {
		return wire.Assignment{}, false
	}
	td, err := s.taskDef(r.Context(), fmt.Sprintf("%s:%d", t.Family, t.Revision))
	if err != nil {
		s.log.Error("assignment without a task definition", "task", t.TaskID, "err", err)
		return wire.Assignment{}, false
	}
	return wire.Assignment{Task: *t, TaskDefinition: *td}, true
}

// taskLogs proxies GET /logs/{task} to the agent running the task.
func (s *core) taskLogs(w http.ResponseWriter, r *http.Request) {
	logs := AgentLogs{Tasks: s.cfg.Tasks, Nodes: s.cfg.Nodes, TLS: s.cfg.AgentTLS, CallbackToken: s.cfg.CallbackToken}
	body, err := logs.Open(r.Context(), r.PathValue("id"), r.URL.RawQuery)
	if err != nil {
		writeError(w, err)
		return
	}
	defer body.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		k, err := body.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// AgentLogs opens task logs on the agents running them: the log callback,
// the one connection the server makes to an agent.
type AgentLogs struct {
	Tasks Tasks
	Nodes Nodes
	// TLS returns how to reach a node's agent: mutual TLS, the agent's
	// certificate checked to name that node (pkg/pki.NodeClientTLS). nil
	// in a plain-HTTP cluster: plain HTTP with the node's callback token.
	TLS func(node string) *tls.Config
	// CallbackToken opens a node's callback token (sealed in etcd) for
	// plain HTTP; nil reads the record's value as it is.
	CallbackToken func(*model.Node) (string, error)
}

// Open opens a task's log stream on the agent running it (query: the
// agent's parameters: follow, tail, since, container, timestamps). The
// dashboard streams logs through it too. Errors say why in a user's terms.
func (l AgentLogs) Open(ctx context.Context, id, query string) (io.ReadCloser, error) {
	t, err := l.Tasks.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.NodeName == "" {
		return nil, &apiError{http.StatusConflict, "NotPlaced", fmt.Sprintf("task %s is not placed on a node yet: %s", t.ShortID(), t.PlacementMessage)}
	}
	n, err := l.Nodes.Lookup(t.NodeName)
	if err != nil {
		return nil, err
	}
	if n.Address == "" {
		return nil, &apiError{http.StatusBadGateway, "AgentUnreachable", fmt.Sprintf("node %s registered no address to fetch logs from", n.Name)}
	}
	// A transport per call: each node has its own TLS check, and logs
	// are fetched rarely; no keep-alive, so nothing lingers. No overall
	// timeout: follow=1 streams last as long as the user watches.
	tr := &http.Transport{ResponseHeaderTimeout: 30 * time.Second, DisableKeepAlives: true, Proxy: nil}
	u := url.URL{Scheme: "http", Host: n.Address, Path: "/logs/" + t.TaskID, RawQuery: query}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if l.TLS != nil {
		u.Scheme = "https"
		req.URL = &u
		tr.TLSClientConfig = l.TLS(n.Name)
	} else {
		tok := n.CallbackToken
		if l.CallbackToken != nil {
			if tok, err = l.CallbackToken(n); err != nil {
				return nil, err
			}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, &apiError{http.StatusBadGateway, "AgentUnreachable", fmt.Sprintf("cannot reach the agent of node %s at %s: %v", n.Name, n.Address, err)}
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		status := resp.StatusCode
		if status >= 500 {
			status = http.StatusBadGateway
		}
		return nil, &apiError{status, "LogsUnavailable", fmt.Sprintf("agent of node %s: %s", n.Name, string(b))}
	}
	return resp.Body, nil
}
