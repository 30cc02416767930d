package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// deadHTTP (--dead-http) adds one http subscriber to the topic modes'
// topic that confirms its subscription and then never answers a
// notification: every delivery to it hangs until the server's timeout.
// Comparing a run with it to one without shows whether a dead subscriber
// slows the queue subscribers down.
var deadHTTP bool

func subscribeDeadHTTP(ctx context.Context, sn *sns.Client, topicArn string) func() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("dead http subscriber: %v", err)
	}
	done := make(chan struct{})
	confirmed := make(chan struct{}, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]string
		_ = json.Unmarshal(b, &m)
		if m["Type"] == "SubscriptionConfirmation" {
			if _, err := sn.ConfirmSubscription(ctx, &sns.ConfirmSubscriptionInput{TopicArn: aws.String(topicArn), Token: aws.String(m["Token"])}); err == nil {
				confirmed <- struct{}{}
			}
			return
		}
		select { // dead: never answers while the run lasts
		case <-done:
		case <-r.Context().Done():
		}
	})}
	go func() { _ = srv.Serve(l) }()
	if _, err := sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topicArn), Protocol: aws.String("http"),
		Endpoint: aws.String("http://" + l.Addr().String() + "/")}); err != nil {
		fail("subscribe the dead http subscriber: %v", err)
	}
	select {
	case <-confirmed:
	case <-time.After(30 * time.Second):
		fail("the dead http subscriber got no confirmation within 30s")
	}
	return func() { close(done); _ = srv.Close() }
}
