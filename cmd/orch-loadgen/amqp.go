package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// AMQP mode (--amqp URL) drives RabbitMQ with the shape the SQS mode has, so
// `make bench-queue` can put the two side by side (issue 18):
//
//   - a fresh durable queue (--queue-type classic or quorum), persistent
//     messages (delivery mode 2);
//   - --producers goroutines, each on its own channel in confirm mode: a
//     "send" publishes --batch messages and returns when the broker has
//     confirmed all of them, as SendMessageBatch returns when the batch is
//     durable;
//   - --consumers goroutines, each on its own channel with manual acks and
//     a prefetch of --receive-max (the AMQP counterpart of receiving up to
//     that many messages): --batch 1 acks every message on its own, as
//     DeleteMessage does; --batch 10 acks up to 10 delivered messages at
//     once (multiple=true), as DeleteMessageBatch does;
//   - every message id is accounted for and latencies are end to end, by
//     the same tally as the SQS mode;
//   - an amqps:// URL connects over TLS (AMQPS), verifying the broker's
//     certificate against --amqp-ca, so RabbitMQ can be measured with the
//     transport security Orch's server always has (see amqpDial).
//
// The result line starts with "amqp-<type> " (plain) or "amqps-<type> "
// (TLS) followed by the SQS mode's fields; over TLS a second line names the
// negotiated version and cipher suite.

func amqpThroughput(c config) map[string]any {
	conn, err := amqpDial(c.amqpURL, c.amqpCA)
	if err != nil {
		fail("amqp: %v", err)
	}
	label := "amqp-"
	state, isTLS := conn.ConnectionState(), false
	if u, _ := url.Parse(c.amqpURL); u != nil && u.Scheme == "amqps" {
		label, isTLS = "amqps-", true
	}
	dials.Add(1) // one connection, with a channel per goroutine
	defer conn.Close()
	admin, err := conn.Channel()
	if err != nil {
		fail("amqp: open channel: %v", err)
	}
	if c.queue == "" {
		c.queue = "loadgen-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	args := amqp.Table{"x-queue-type": c.queueType}
	if _, err := admin.QueueDeclare(c.queue, true, false, false, false, args); err != nil {
		fail("amqp: declare %s queue %s: %v", c.queueType, c.queue, err)
	}
	defer func() { _, _ = admin.QueueDelete(c.queue, false, false, false) }()

	var sent atomic.Uint64
	var acked atomic.Int64
	t := &tally{seen: map[uint64]bool{}}
	stopSend := make(chan struct{})
	start := time.Now()

	var pwg sync.WaitGroup
	for p := 0; p < c.producers; p++ {
		ch, err := conn.Channel()
		if err != nil {
			fail("amqp: open channel: %v", err)
		}
		if err := ch.Confirm(false); err != nil {
			fail("amqp: confirm mode: %v", err)
		}
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			defer ch.Close()
			var tick *time.Ticker
			if c.rate > 0 {
				per := float64(c.rate) / float64(c.producers) / float64(c.batch)
				tick = time.NewTicker(time.Duration(float64(time.Second) / per))
				defer tick.Stop()
			}
			confs := make([]*amqp.DeferredConfirmation, 0, c.batch)
			for {
				if tick != nil {
					select {
					case <-tick.C:
					case <-stopSend:
						return
					}
				} else {
					select {
					case <-stopSend:
						return
					default:
					}
				}
				confs = confs[:0]
				for range c.batch {
					b := body(sent.Add(1), c.size)
					dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", c.queue, false, false,
						amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "text/plain", Body: []byte(b)})
					if err != nil {
						t.err(fmt.Errorf("publish: %w", err))
						continue
					}
					confs = append(confs, dc)
				}
				for _, dc := range confs {
					ok, err := dc.WaitContext(context.Background())
					switch {
					case err != nil:
						t.err(fmt.Errorf("confirm: %w", err))
					case !ok:
						t.err(fmt.Errorf("the broker nacked a publish"))
					default:
						acked.Add(1)
					}
				}
			}
		}()
	}

	stopRecv := make(chan struct{})
	var cwg sync.WaitGroup
	for i := 0; i < c.consumers; i++ {
		ch, err := conn.Channel()
		if err != nil {
			fail("amqp: open channel: %v", err)
		}
		if err := ch.Qos(c.receiveMax, 0, false); err != nil {
			fail("amqp: qos: %v", err)
		}
		dels, err := ch.Consume(c.queue, "", false, false, false, false, nil)
		if err != nil {
			fail("amqp: consume: %v", err)
		}
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			defer ch.Close()
			lat := make([]time.Duration, 0, 1<<16)
			defer func() {
				t.mu.Lock()
				t.lat = append(t.lat, lat...)
				t.mu.Unlock()
			}()
			bodies := make([]string, 0, 10)
			var last uint64
			for {
				// Wait for one delivery, then take what else has already
				// arrived, up to the batch: one "receive".
				bodies = bodies[:0]
				select {
				case <-stopRecv:
					return
				case d, ok := <-dels:
					if !ok {
						return
					}
					bodies, last = append(bodies, string(d.Body)), d.DeliveryTag
				}
			more:
				for len(bodies) < c.batch {
					select {
					case d, ok := <-dels:
						if !ok {
							break more
						}
						bodies, last = append(bodies, string(d.Body)), d.DeliveryTag
					default:
						break more
					}
				}
				lat = t.record(lat, bodies)
				if c.batch == 1 {
					if err := ch.Ack(last, false); err != nil {
						t.err(fmt.Errorf("ack: %w", err))
						continue
					}
				} else if err := ch.Ack(last, true); err != nil {
					t.err(fmt.Errorf("ack: %w", err))
					continue
				}
				t.deleted.Add(int64(len(bodies)))
			}
		}()
	}

	time.Sleep(c.duration)
	close(stopSend)
	pwg.Wait()
	res := t.finish(c, label+c.queueType+" ", start, sent.Load(), acked.Load(), func() { close(stopRecv); cwg.Wait() })
	if isTLS {
		fmt.Printf("amqps: %s %s, broker certificate verified\n", tls.VersionName(state.Version), tls.CipherSuiteName(state.CipherSuite))
	}
	return res
}

// amqpDial connects to the broker at rawURL. amqp:// is plain TCP. amqps://
// is TLS that verifies the broker's certificate chain against the CA
// certificates in caFile (the system's roots when caFile is empty) and its
// name against the URL's host, as an SQS client verifies Orch's server:
// there is no way to skip the check. TLS 1.2 is the floor (the broker's
// configuration decides whether 1.3 is spoken; bench-queue.sh offers 1.3
// only, as Orch's server does). caFile with amqp:// is refused, so a
// mistyped scheme cannot silently measure plain AMQP.
func amqpDial(rawURL, caFile string) (*amqp.Connection, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Not url.Parse's error itself: it quotes the URL, password and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("--amqp: not a URL: %v", err)
	}
	where := u.Redacted()
	if u.Scheme != "amqps" {
		if caFile != "" {
			return nil, errors.New("--amqp-ca needs an amqps:// URL")
		}
		conn, err := amqp.Dial(rawURL)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", where, err)
		}
		return conn, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--amqp-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--amqp-ca: no PEM certificate in %s", caFile)
		}
	}
	conn, err := amqp.DialTLS(rawURL, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", where, err)
	}
	return conn, nil
}
