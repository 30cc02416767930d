package ui

import (
	"net/http"
	"strings"

	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
)

// topicRow is one topic on the Topics page.
type topicRow struct {
	wire.TopicView
	Subs []subRow
}

// subRow is one subscription with, for a queue subscriber, the queue's
// name (the page links it to the Queues page).
type subRow struct {
	wire.SubscriptionView
	Queue string
	// Delivering: the subscription receives messages (its state is
	// "confirmed"; any other state explains why not).
	Delivering bool
}

// queueOfEndpoint is the queue an sqs subscription delivers to (its
// endpoint is a queue ARN), "" for other protocols.
func queueOfEndpoint(protocol, endpoint string) string {
	if protocol != model.ProtocolSQS {
		return ""
	}
	if name, err := model.ArnName(endpoint, "sqs"); err == nil {
		return name
	}
	// An endpoint that is not an ARN (a URL or a bare name) ends with it.
	return endpoint[strings.LastIndex(endpoint, "/")+1:]
}

func (u *UI) topics(w http.ResponseWriter, r *http.Request, ss *session) {
	u.qmu.Lock()
	ts, err := u.tlatest, u.terr
	u.qmu.Unlock()
	rows := make([]topicRow, len(ts))
	for i, t := range ts {
		rows[i] = topicRow{TopicView: t}
		for _, s := range t.Subscriptions {
			rows[i].Subs = append(rows[i].Subs, subRow{SubscriptionView: s, Queue: queueOfEndpoint(s.Protocol, s.Endpoint),
				Delivering: s.State == "confirmed"})
		}
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	u.show(w, r, ss, "topics", "Topics", "/ui/topics", "topics",
		map[string]any{"Topics": rows, "Err": msg, "Every": u.cfg.QueueSampleEvery})
}

// feeders returns, per queue name, the topics that deliver to it.
func (u *UI) feeders() map[string][]string {
	u.qmu.Lock()
	ts := u.tlatest
	u.qmu.Unlock()
	out := map[string][]string{}
	for _, t := range ts {
		for _, s := range t.Subscriptions {
			if q := queueOfEndpoint(s.Protocol, s.Endpoint); q != "" {
				out[q] = append(out[q], t.Name)
			}
		}
	}
	return out
}
