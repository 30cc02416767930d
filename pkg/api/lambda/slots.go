package lambda

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/pkg/function"
)

// Replicas take and give back the slots of a function's reserved
// concurrency at the replica counting it (pkg/function/slots.go) through
// two internal endpoints on the common listener:
//
//	POST /internal/function-slots/take {"function","slot","limit","ttlMs"} → 200 {"slot"} | 429 {"reason","message"}
//	POST /internal/function-slots/give {"function","slot"}          → 204
//
// Only servers may call them: each request carries X-Orch-Replica-Auth,
// "UNIXSECONDS:MAC", the MAC keyed with the key the replicas share (sealed
// in etcd, never sent) over the path, the time and the body. Clients,
// agents and tasks have no such key; a proof older than slotAuthMaxAge is
// refused.

// SlotPath prefixes the slot endpoints.
const SlotPath = "/internal/function-slots/"

// SlotAuthHeader carries a replica's proof on a slot request.
const SlotAuthHeader = "X-Orch-Replica-Auth"

// slotAuthMaxAge bounds a proof's age (replicas' clocks differ a little).
const slotAuthMaxAge = time.Minute

// slotBodyMax bounds a slot request's body (a name and two numbers).
const slotBodyMax = 4 << 10

type slotTake struct {
	Function string `json:"function"`
	Slot     string `json:"slot"` // named by the caller (function.NewSlotID)
	Limit    int    `json:"limit"`
	TTLMs    int64  `json:"ttlMs"`
}

type slotGive struct {
	Function string `json:"function"`
	Slot     string `json:"slot"`
}

type slotAnswer struct {
	Slot    string `json:"slot,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// slotMAC is the proof of a slot request to path at ts with body.
func slotMAC(key []byte, ts, path string, body []byte) string {
	m := hmac.New(sha256.New, key)
	for _, part := range [][]byte{[]byte("orch-function-slots/v1"), []byte(ts), []byte(path), body} {
		m.Write(part)
		m.Write([]byte{'\n'})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// replicaKey holds the key the replicas share; set before serving.
type replicaKey struct {
	mu  sync.RWMutex
	key []byte
}

func (k *replicaKey) set(key []byte) {
	k.mu.Lock()
	k.key = append([]byte(nil), key...)
	k.mu.Unlock()
}

func (k *replicaKey) get() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.key
}

// SlotService is what the slot endpoints need of pkg/function.
type SlotService interface {
	TakeSlotAs(fn, id string, limit int, ttl time.Duration) error
	GiveSlot(fn, id string)
}

// SlotHandler serves the slot endpoints to the other replicas.
type SlotHandler struct {
	svc SlotService
	key replicaKey
}

// NewSlotHandler returns the handler; SetReplicaKey before serving.
func NewSlotHandler(svc SlotService) *SlotHandler { return &SlotHandler{svc: svc} }

// SetReplicaKey sets the key the replicas share.
func (h *SlotHandler) SetReplicaKey(key []byte) { h.key.set(key) }

// IsSlotRequest reports whether r is for the slot endpoints.
func IsSlotRequest(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, SlotPath) }

func writeSlotJSON(w http.ResponseWriter, status int, v slotAnswer) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (h *SlotHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeSlotJSON(w, http.StatusMethodNotAllowed, slotAnswer{Message: "slot endpoints take POST"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, slotBodyMax+1))
	if err != nil || len(body) > slotBodyMax {
		writeSlotJSON(w, http.StatusBadRequest, slotAnswer{Message: fmt.Sprintf("the body must be JSON of at most %d bytes", slotBodyMax)})
		return
	}
	if msg := h.check(r, body, time.Now()); msg != "" {
		writeSlotJSON(w, http.StatusForbidden, slotAnswer{Message: msg})
		return
	}
	switch strings.TrimPrefix(r.URL.Path, SlotPath) {
	case "take":
		var in slotTake
		if err := json.Unmarshal(body, &in); err != nil || in.Function == "" || len(in.Slot) < function.MinRemoteSlotID ||
			in.Limit < 0 || in.TTLMs <= 0 || in.TTLMs > int64(time.Hour/time.Millisecond) {
			writeSlotJSON(w, http.StatusBadRequest, slotAnswer{Message: fmt.Sprintf(
				`take wants {"function": NAME, "slot": ID of at least %d characters, "limit": N >= 0, "ttlMs": 0 < MS <= 3600000}`, function.MinRemoteSlotID)})
			return
		}
		err := h.svc.TakeSlotAs(in.Function, in.Slot, in.Limit, time.Duration(in.TTLMs)*time.Millisecond)
		if te, ok := errors.AsType[*function.ThrottleError](err); ok {
			writeSlotJSON(w, http.StatusTooManyRequests, slotAnswer{Reason: te.Reason, Message: te.Message})
			return
		}
		if err != nil {
			writeSlotJSON(w, http.StatusInternalServerError, slotAnswer{Message: err.Error()})
			return
		}
		writeSlotJSON(w, http.StatusOK, slotAnswer{Slot: in.Slot})
	case "give":
		var in slotGive
		if err := json.Unmarshal(body, &in); err != nil || in.Function == "" || len(in.Slot) < function.MinRemoteSlotID {
			writeSlotJSON(w, http.StatusBadRequest, slotAnswer{Message: fmt.Sprintf(
				`give wants {"function": NAME, "slot": ID of at least %d characters}`, function.MinRemoteSlotID)})
			return
		}
		h.svc.GiveSlot(in.Function, in.Slot)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeSlotJSON(w, http.StatusNotFound, slotAnswer{Message: "no such slot endpoint: use " + SlotPath + "take or " + SlotPath + "give"})
	}
}

// check verifies r's replica proof; "" when it holds, else why not.
func (h *SlotHandler) check(r *http.Request, body []byte, now time.Time) string {
	key := h.key.get()
	if key == nil {
		return "this server takes no slot requests (it has no replica key)"
	}
	ts, mac, ok := strings.Cut(r.Header.Get(SlotAuthHeader), ":")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil {
		return "slot endpoints are for the servers of the cluster: " + SlotAuthHeader + " is missing or malformed"
	}
	if age := now.Sub(time.Unix(sec, 0)); age > slotAuthMaxAge || age < -slotAuthMaxAge {
		return "the slot request's proof is too old (or the replicas' clocks differ by more than a minute)"
	}
	if !hmac.Equal([]byte(mac), []byte(slotMAC(key, ts, r.URL.Path, body))) {
		return "the slot request's proof does not check: it was not sent by a server of this cluster"
	}
	return ""
}

// SlotClient takes and gives back slots at another replica
// (function.RemoteSlots).
type SlotClient struct {
	key    replicaKey
	mu     sync.RWMutex
	client *http.Client
}

// NewSlotClient returns a client over plain HTTP (SetTransport for TLS);
// SetReplicaKey before use.
func NewSlotClient() *SlotClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64 // as many callers as invoke at once
	return &SlotClient{client: &http.Client{Transport: tr, Timeout: 2 * time.Second}}
}

// SetReplicaKey sets the key the replicas share.
func (c *SlotClient) SetReplicaKey(key []byte) { c.key.set(key) }

// SetTransport sets how the other replicas are reached (with TLS: one
// trusting the cluster CA).
func (c *SlotClient) SetTransport(rt http.RoundTripper) {
	c.mu.Lock()
	c.client = &http.Client{Transport: rt, Timeout: 2 * time.Second}
	c.mu.Unlock()
}

func (c *SlotClient) post(ctx context.Context, ownerURL, op string, in any) (int, slotAnswer, error) {
	body, _ := json.Marshal(in)
	path := SlotPath + op
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(ownerURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, slotAnswer{}, err
	}
	key := c.key.get()
	if key == nil {
		return 0, slotAnswer{}, errors.New("lambda: no replica key to sign slot requests with")
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set(SlotAuthHeader, ts+":"+slotMAC(key, ts, path, body))
	req.Header.Set("Content-Type", "application/json")
	c.mu.RLock()
	client := c.client
	c.mu.RUnlock()
	resp, err := client.Do(req)
	if err != nil {
		return 0, slotAnswer{}, err
	}
	defer resp.Body.Close()
	var out slotAnswer
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, slotBodyMax))
		if err := json.Unmarshal(b, &out); err != nil {
			return resp.StatusCode, out, fmt.Errorf("lambda: slot %s at %s answered %d, not JSON", op, ownerURL, resp.StatusCode)
		}
	}
	return resp.StatusCode, out, nil
}

// TakeSlot implements function.RemoteSlots.
func (c *SlotClient) TakeSlot(ctx context.Context, ownerURL, fn, id string, limit int, ttl time.Duration) error {
	status, out, err := c.post(ctx, ownerURL, "take", slotTake{Function: fn, Slot: id, Limit: limit, TTLMs: ttl.Milliseconds()})
	switch {
	case err != nil:
		return err
	case status == http.StatusOK && out.Slot == id:
		return nil
	case status == http.StatusTooManyRequests:
		return &function.ThrottleError{Reason: out.Reason, Message: out.Message}
	}
	return fmt.Errorf("lambda: slot take at %s answered %d: %s", ownerURL, status, out.Message)
}

// GiveSlot implements function.RemoteSlots.
func (c *SlotClient) GiveSlot(ctx context.Context, ownerURL, fn, id string) error {
	status, out, err := c.post(ctx, ownerURL, "give", slotGive{Function: fn, Slot: id})
	if err != nil {
		return err
	}
	if status != http.StatusNoContent {
		return fmt.Errorf("lambda: slot give at %s answered %d: %s", ownerURL, status, out.Message)
	}
	return nil
}

var _ function.RemoteSlots = (*SlotClient)(nil)
