package queue

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/queue/qlog"
	"github.com/orch-project/orch/pkg/store"
)

// CreateQueue creates a queue, or returns the existing one when its
// attributes match what is asked (SQS: CreateQueue is idempotent).
func (b *Broker) CreateQueue(ctx context.Context, name string, attrs, tags map[string]string) (*model.Queue, error) {
	if err := model.ValidateQueueName(name); err != nil {
		return nil, ErrInvalidParameterValue.With("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length; a FIFO queue name ends in .fifo. Got %q.", name)
	}
	fifo := strings.HasSuffix(name, ".fifo")
	if v, ok := attrs[model.QAFifoQueue]; ok && strings.EqualFold(v, "true") && !fifo {
		return nil, ErrInvalidParameterValue.With("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
	}
	if fifo && !strings.EqualFold(attrs[model.QAFifoQueue], "true") {
		// As SQS: a .fifo name alone does not make a FIFO queue.
		return nil, ErrInvalidParameterValue.With("Queue %s ends in .fifo but FifoQueue is not true: set the attribute FifoQueue=true to create a FIFO queue, or drop the .fifo suffix for a standard queue.", name)
	}
	if err := validateTags(tags); err != nil {
		return nil, err
	}
	o, err := b.ownerOf(ctx, name)
	if err != nil {
		return nil, err
	}
	norm, err := o.normalizeAttrs(ctx, name, attrs, fifo, nil)
	if err != nil {
		return nil, err
	}
	o.mu.RLock()
	q := o.queues[name]
	deletedAt, recently := o.deletedAt[name]
	o.mu.RUnlock()
	if q != nil {
		q.mu.Lock()
		meta := q.meta
		q.mu.Unlock()
		for k, v := range norm {
			if meta.Attributes[k] != v {
				return nil, ErrQueueNameExists.With("A queue already exists with the same name and a different value for attribute %s", k)
			}
		}
		return meta, nil
	}
	if recently && b.clock.Now().Sub(deletedAt) < time.Minute {
		return nil, ErrQueueDeletedRecently
	}
	all := model.QueueDefaults(fifo)
	for k, v := range norm {
		all[k] = v
	}
	now := b.clock.Now().Unix()
	meta := &model.Queue{Name: name, ID: randHex(8), Attributes: all, Tags: tags, CreatedTimestamp: now, LastModifiedTimestamp: now}
	got, created, err := b.st.CreateQueue(ctx, meta)
	if err != nil {
		return nil, ErrInternal.With("storing the queue failed: %v", err)
	}
	if !created {
		meta = got // another request created it first; compare as above
		for k, v := range norm {
			if meta.Attributes[k] != v {
				return nil, ErrQueueNameExists
			}
		}
	}
	o.mu.Lock()
	if o.queues[name] == nil {
		o.queues[name] = newQueue(meta, b.opts.Region, b.clock)
	}
	q = o.queues[name]
	o.mu.Unlock()
	b.log.Info("queue created", "queue", name, "fifo", fifo)
	return q.metaCopy(), nil
}

func (q *queue) metaCopy() *model.Queue {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.meta
}

// normalizeAttrs validates attributes for CreateQueue or SetQueueAttributes
// (old holds the current values then) and returns their canonical values.
func (o *owner) normalizeAttrs(ctx context.Context, name string, attrs map[string]string, fifo bool, old map[string]string) (map[string]string, error) {
	merged := map[string]string{}
	for k, v := range old {
		merged[k] = v
	}
	for k, v := range attrs {
		merged[k] = v
	}
	cfg, err := model.ParseQueueAttributes(merged, fifo)
	if err != nil {
		var ae *model.AttributeError
		if errors.As(err, &ae) && ae.Unknown {
			return nil, ErrInvalidAttributeName.With("Unknown Attribute %s.", ae.Name)
		}
		return nil, ErrInvalidAttributeValue.With("%s", err.Error())
	}
	out := map[string]string{}
	for k, v := range attrs {
		switch k {
		case model.QADelaySeconds, model.QAMaximumMessageSize, model.QAMessageRetentionPeriod,
			model.QAReceiveMessageWaitTimeSeconds, model.QAVisibilityTimeout, model.QAKmsDataKeyReusePeriodSeconds:
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			v = strconv.Itoa(n)
		case model.QAFifoQueue, model.QAContentBasedDeduplication, model.QASqsManagedSseEnabled:
			v = strings.ToLower(v)
		case model.QARedrivePolicy:
			if cfg.Redrive != nil {
				v = cfg.Redrive.String()
			}
		}
		out[k] = v
	}
	if rp := cfg.Redrive; rp != nil && attrs[model.QARedrivePolicy] != "" {
		dlqName := model.QueueNameFromArn(rp.DeadLetterTargetArn)
		dlq, err := o.queueInfo(ctx, dlqName)
		if err != nil {
			return nil, ErrInvalidParameterValue.With("Value %s for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.", attrs[model.QARedrivePolicy])
		}
		if dlqName == name {
			return nil, ErrInvalidParameterValue.With("Value %s for parameter RedrivePolicy is invalid. Reason: A queue cannot be its own dead-letter queue.", attrs[model.QARedrivePolicy])
		}
		dfifo, allow := dlq.Fifo(), dlq.Config().RedriveAllow
		if dfifo != fifo {
			return nil, ErrInvalidParameterValue.With("Value %s for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source.", attrs[model.QARedrivePolicy])
		}
		if !allow.Allows(model.QueueArn(o.b.opts.Region, name)) {
			return nil, ErrInvalidParameterValue.With("Value %s for parameter RedrivePolicy is invalid. Reason: Queue %s does not allow this queue to use it as its dead-letter queue (RedriveAllowPolicy).", attrs[model.QARedrivePolicy], dlqName)
		}
	}
	return out, nil
}

func validateTags(tags map[string]string) error {
	if len(tags) > 50 {
		return ErrInvalidParameterValue.With("Too many tags: at most 50 per queue.")
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return ErrInvalidParameterValue.With("Tag keys are 1 to 128 characters and values at most 256 (key %q).", k)
		}
	}
	return nil
}

// GetQueue returns a queue's definition (GetQueueUrl).
func (b *Broker) GetQueue(ctx context.Context, name string) (*model.Queue, error) {
	o, err := b.ownerOf(ctx, name)
	if err != nil {
		return nil, err
	}
	q, err := o.queue(name)
	if err != nil {
		return nil, err
	}
	return q.metaCopy(), nil
}

// ListQueues returns the names of queues starting with prefix, sorted.
// Any replica answers: the queues' definitions are read from etcd.
func (b *Broker) ListQueues(ctx context.Context, prefix string) ([]string, error) {
	metas, err := b.st.ListQueues(ctx)
	if err != nil {
		return nil, ErrServiceUnavailable.With("listing the queues failed: %v", err)
	}
	var names []string
	for _, m := range metas {
		if strings.HasPrefix(m.Name, prefix) {
			names = append(names, m.Name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// queueInfo is the definition of queue name: from memory when it is in
// o's shard, otherwise from etcd.
func (o *owner) queueInfo(ctx context.Context, name string) (*model.Queue, error) {
	if o.b.shardOf(name) == o.shard {
		q, err := o.queue(name)
		if err != nil {
			return nil, err
		}
		return q.metaCopy(), nil
	}
	m, err := o.b.st.GetQueue(ctx, name)
	if errors.Is(err, model.ErrNotFound) {
		return nil, ErrQueueDoesNotExist
	}
	if err != nil {
		return nil, ErrServiceUnavailable.With("reading queue %s failed: %v", name, err)
	}
	return m, nil
}

// DeleteQueue deletes a queue and its messages.
func (b *Broker) DeleteQueue(ctx context.Context, name string) error {
	o, err := b.ownerOf(ctx, name)
	if err != nil {
		return err
	}
	q, err := o.queue(name)
	if err != nil {
		return err
	}
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return ErrQueueDoesNotExist
	}
	q.stop()
	meta := q.meta
	q.mu.Unlock()
	q.pending.Wait() // sends already committing land before the range delete
	if err := b.st.DeleteQueue(ctx, meta, o.leader.Guard()); err != nil {
		q.mu.Lock()
		q.deleted = false
		q.mu.Unlock()
		return ErrInternal.With("deleting the queue failed: %v", err)
	}
	if o.qlog != nil {
		// If this fails, the next take-over drops the records of a queue
		// etcd no longer has.
		if err := o.qlog.Append([]qlog.Record{{Kind: qlog.DropQueue, Queue: meta.ID}}); err != nil {
			b.log.Warn("dropping a deleted queue's messages from the queue log failed; they go at the next start", "queue", name, "err", err)
		}
	}
	o.mu.Lock()
	if o.queues[name] == q {
		delete(o.queues, name)
	}
	o.deletedAt[name] = b.clock.Now()
	o.mu.Unlock()
	b.log.Info("queue deleted", "queue", name)
	return nil
}

// GetQueueAttributes returns the named attributes ("All" for every one).
func (b *Broker) GetQueueAttributes(ctx context.Context, name string, names []string) (map[string]string, error) {
	o, err := b.ownerOf(ctx, name)
	if err != nil {
		return nil, err
	}
	q, err := o.queue(name)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	all := false
	for _, n := range names {
		switch {
		case n == "All":
			all = true
		case isQueueAttr(n):
			want[n] = true
		default:
			return nil, ErrInvalidAttributeName.With("Unknown Attribute %s.", n)
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[string]string{}
	for k, v := range q.meta.Attributes {
		if (all || want[k]) && v != "" {
			out[k] = v
		}
	}
	ro := map[string]string{
		model.QAApproximateNumberOfMessages:           strconv.Itoa(q.nVisible),
		model.QAApproximateNumberOfMessagesNotVisible: strconv.Itoa(q.nInflight),
		model.QAApproximateNumberOfMessagesDelayed:    strconv.Itoa(q.nDelayed),
		model.QACreatedTimestamp:                      strconv.FormatInt(q.meta.CreatedTimestamp, 10),
		model.QALastModifiedTimestamp:                 strconv.FormatInt(q.meta.LastModifiedTimestamp, 10),
		model.QAQueueArn:                              q.arn,
	}
	for k, v := range ro {
		if all || want[k] {
			out[k] = v
		}
	}
	return out, nil
}

func isQueueAttr(n string) bool {
	for _, a := range model.QueueSettableAttributes {
		if a == n {
			return true
		}
	}
	for _, a := range model.QueueReadOnlyAttributes {
		if a == n {
			return true
		}
	}
	return false
}

// SetQueueAttributes changes settable attributes.
func (b *Broker) SetQueueAttributes(ctx context.Context, name string, attrs map[string]string) error {
	o, err := b.ownerOf(ctx, name)
	if err != nil {
		return err
	}
	q, err := o.queue(name)
	if err != nil {
		return err
	}
	if _, ok := attrs[model.QAFifoQueue]; ok {
		return ErrInvalidAttributeName.With("Attribute FifoQueue cannot be changed after the queue is created.")
	}
	for k := range attrs {
		if !isQueueAttr(k) {
			return ErrInvalidAttributeName.With("Unknown Attribute %s.", k)
		}
		for _, ro := range model.QueueReadOnlyAttributes {
			if k == ro {
				return ErrInvalidAttributeName.With("Attribute %s is read-only.", k)
			}
		}
	}
	cur := q.metaCopy()
	norm, err := o.normalizeAttrs(ctx, name, attrs, cur.Fifo(), cur.Attributes)
	if err != nil {
		return err
	}
	return o.updateMeta(ctx, q, func(m *model.Queue) {
		for k, v := range norm {
			if v == "" && (k == model.QARedrivePolicy || k == model.QARedriveAllowPolicy || k == model.QAPolicy) {
				delete(m.Attributes, k)
				continue
			}
			m.Attributes[k] = v
		}
		m.LastModifiedTimestamp = b.clock.Now().Unix()
	})
}

// updateMeta changes a queue's stored definition and its in-memory copy.
func (o *owner) updateMeta(ctx context.Context, q *queue, fn func(*model.Queue)) error {
	cur := q.metaCopy()
	nm, err := o.b.st.UpdateQueue(ctx, cur.Name, func(m *model.Queue) (bool, error) {
		if m.ID != cur.ID {
			return false, ErrQueueDoesNotExist
		}
		if m.Attributes == nil {
			m.Attributes = map[string]string{}
		}
		fn(m)
		return true, nil
	})
	if err != nil {
		if errors.Is(err, ErrQueueDoesNotExist) || errors.Is(err, model.ErrNotFound) {
			return ErrQueueDoesNotExist
		}
		return ErrInternal.With("storing the queue failed: %v", err)
	}
	q.mu.Lock()
	q.setMeta(nm, o.b.opts.Region)
	q.mu.Unlock()
	return nil
}

// TagQueue adds or replaces tags.
func (b *Broker) TagQueue(ctx context.Context, name string, tags map[string]string) error {
	o, q, err := b.lookup(ctx, name)
	if err != nil {
		return err
	}
	if err := validateTags(tags); err != nil {
		return err
	}
	return o.updateMeta(ctx, q, func(m *model.Queue) {
		if m.Tags == nil {
			m.Tags = map[string]string{}
		}
		for k, v := range tags {
			m.Tags[k] = v
		}
	})
}

// UntagQueue removes tags.
func (b *Broker) UntagQueue(ctx context.Context, name string, keys []string) error {
	o, q, err := b.lookup(ctx, name)
	if err != nil {
		return err
	}
	return o.updateMeta(ctx, q, func(m *model.Queue) {
		for _, k := range keys {
			delete(m.Tags, k)
		}
	})
}

// ListQueueTags returns a queue's tags.
func (b *Broker) ListQueueTags(ctx context.Context, name string) (map[string]string, error) {
	_, q, err := b.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	return q.metaCopy().Tags, nil
}

// ListDeadLetterSourceQueues returns the names of queues whose
// RedrivePolicy targets name (the sources may live in any shard: their
// definitions are read from etcd).
func (b *Broker) ListDeadLetterSourceQueues(ctx context.Context, name string) ([]string, error) {
	_, q, err := b.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	arn := q.arn
	metas, err := b.st.ListQueues(ctx)
	if err != nil {
		return nil, ErrServiceUnavailable.With("listing the queues failed: %v", err)
	}
	var out []string
	for _, m := range metas {
		if rp := m.Config().Redrive; rp != nil && rp.DeadLetterTargetArn == arn {
			out = append(out, m.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// PurgeQueue deletes every message in a queue (once per 60 seconds).
func (b *Broker) PurgeQueue(ctx context.Context, name string) error {
	o, q, err := b.lookup(ctx, name)
	if err != nil {
		return err
	}
	q.mu.Lock()
	now := b.clock.Now()
	if !q.lastPurge.IsZero() && now.Sub(q.lastPurge) < time.Minute {
		q.mu.Unlock()
		return ErrPurgeQueueInProgress.With("Only one PurgeQueue operation on %s is allowed every 60 seconds.", name)
	}
	q.lastPurge = now
	ops := make([]store.QueueOp, 0, len(q.msgs))
	for _, m := range q.msgs {
		ops = append(ops, store.QueueOp{Kind: store.QueueDeleteMessage, QueueID: q.meta.ID, ID: m.MessageID})
		q.remove(m)
	}
	q.ready.reset()
	q.readyGroups.reset()
	for _, g := range q.groups {
		g.queued = false
	}
	qid := q.meta.ID
	q.mu.Unlock()
	for len(ops) > 0 {
		n := min(len(ops), o.com.maxOps)
		if err := o.com.commit(ctx, ops[:n]...); err != nil {
			return err
		}
		ops = ops[n:]
	}
	b.log.Info("queue purged", "queue", name, "queueId", qid)
	return nil
}

// Stats are a queue's counts for `orch get queues`.
type Stats struct {
	Name             string `json:"name"`
	Fifo             bool   `json:"fifo"`
	Visible          int    `json:"visible"`
	InFlight         int    `json:"inFlight"`
	Delayed          int    `json:"delayed"`
	OldestAgeSeconds int64  `json:"oldestAgeSeconds"`
	DeadLetterQueue  string `json:"deadLetterQueue,omitempty"`
	MaxReceiveCount  int    `json:"maxReceiveCount,omitempty"`
}

// QueueStats returns the counts of the named queues, or with no names of
// every queue this replica serves (the others' counts live with their
// owners).
func (b *Broker) QueueStats(ctx context.Context, names ...string) ([]Stats, error) {
	if len(names) == 0 {
		b.mu.RLock()
		for _, o := range b.owners {
			if o == nil {
				continue
			}
			o.mu.RLock()
			for n := range o.queues {
				names = append(names, n)
			}
			o.mu.RUnlock()
		}
		b.mu.RUnlock()
		sort.Strings(names)
	}
	nowMs := b.clock.Now().UnixMilli()
	var out []Stats
	for _, n := range names {
		_, q, err := b.lookup(ctx, n)
		if err != nil {
			return nil, err
		}
		q.mu.Lock()
		st := Stats{Name: n, Fifo: q.fifo, Visible: q.nVisible, InFlight: q.nInflight, Delayed: q.nDelayed}
		oldest := nowMs
		for _, m := range q.msgs {
			oldest = min(oldest, m.SentMs)
		}
		st.OldestAgeSeconds = (nowMs - oldest) / 1000
		if rp := q.cfg.Redrive; rp != nil {
			st.DeadLetterQueue, st.MaxReceiveCount = model.QueueNameFromArn(rp.DeadLetterTargetArn), rp.MaxReceiveCount
		}
		q.mu.Unlock()
		out = append(out, st)
	}
	return out, nil
}
