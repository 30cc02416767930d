// Command news is the coffee shop's news board: a web server subscribed
// to the coffee-news topic over http. It subscribes itself at start
// (stock aws-sdk-go-v2; Orch gives every container AWS_ENDPOINT_URL,
// AWS_REGION and credentials), confirms the subscription with the token
// it is sent, verifies the signature of everything it receives, and shows
// the news it accepted at GET /.
//
// Verifying: the signing certificate is fetched only from Orch's own
// endpoint (AWS_ENDPOINT_URL; the path of SigningCertURL must be
// /sns/SimpleNotificationService-*.pem), which is what "trust Orch's host
// instead of sns.<region>.amazonaws.com" means for an SNS verifier.
//
//	TOPIC     topic name (default coffee-news)
//	ENDPOINT  the URL Orch POSTs to (e.g. http://127.0.0.1:18081/sns)
//	PORT      listen port (default 8081)
package main

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

type board struct {
	client   *sns.Client
	topicArn string
	orch     *url.URL
	// hc is the SDK's HTTP client: it trusts AWS_CA_BUNDLE (the cluster
	// CA Orch mounts), so the certificate is fetched over verified TLS.
	hc       aws.HTTPClient
	mu       sync.Mutex
	news     []string
	rejected int
}

func main() {
	log.SetFlags(0)
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatalf("aws config: %v", err)
	}
	orch, err := url.Parse(os.Getenv("AWS_ENDPOINT_URL"))
	if err != nil || orch.Host == "" {
		log.Fatalf("AWS_ENDPOINT_URL %q: Orch sets it in every container", os.Getenv("AWS_ENDPOINT_URL"))
	}
	b := &board{client: sns.NewFromConfig(cfg), orch: orch, hc: cfg.HTTPClient}
	port := env("PORT", "8081")
	http.HandleFunc("/sns", b.receive)
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/", b.show)
	go func() { log.Fatal(http.ListenAndServe(":"+port, nil)) }()

	topic, endpoint := env("TOPIC", "coffee-news"), os.Getenv("ENDPOINT")
	for {
		out, err := b.client.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(topic)}) // idempotent: finds the manifest's topic
		if err == nil {
			b.mu.Lock()
			b.topicArn = *out.TopicArn
			b.mu.Unlock()
			_, err = b.client.Subscribe(ctx, &sns.SubscribeInput{TopicArn: out.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(endpoint)})
		}
		if err == nil {
			break
		}
		log.Printf("news: subscribing to %s: %v (retrying)", topic, err)
		time.Sleep(time.Second)
	}
	log.Printf("news: subscribed %s to %s", endpoint, topic)
	select {}
}

func (b *board) receive(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		http.Error(w, "not an SNS message", http.StatusBadRequest)
		return
	}
	m := map[string]string{} // the string fields (MessageAttributes is an object)
	for k, v := range doc {
		if s, ok := v.(string); ok {
			m[k] = s
		}
	}
	b.mu.Lock()
	want := b.topicArn
	b.mu.Unlock()
	if err := b.verify(r.Context(), m); err != nil || m["TopicArn"] != want {
		b.mu.Lock()
		b.rejected++
		b.mu.Unlock()
		log.Printf("news: REJECTED %s message %s: %v (topic %s)", m["Type"], m["MessageId"], err, m["TopicArn"])
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	switch m["Type"] {
	case "SubscriptionConfirmation":
		if _, err := b.client.ConfirmSubscription(r.Context(), &sns.ConfirmSubscriptionInput{TopicArn: aws.String(m["TopicArn"]), Token: aws.String(m["Token"])}); err != nil {
			log.Printf("news: confirming: %v", err)
			http.Error(w, "confirm failed", http.StatusInternalServerError)
			return
		}
		log.Printf("news: subscription confirmed (signature verified, SignatureVersion %s)", m["SignatureVersion"])
	case "Notification":
		b.mu.Lock()
		b.news = append(b.news, m["Message"])
		b.mu.Unlock()
		log.Printf("news: got %q (signature verified)", m["Message"])
	}
}

// verify checks an SNS signature against the certificate Orch serves.
func (b *board) verify(ctx context.Context, m map[string]string) error {
	cu, err := url.Parse(m["SigningCertURL"])
	if err != nil || !strings.HasPrefix(cu.Path, "/sns/SimpleNotificationService-") || !strings.HasSuffix(cu.Path, ".pem") {
		return fmt.Errorf("untrusted SigningCertURL %q", m["SigningCertURL"])
	}
	fetch := *b.orch
	fetch.Path = cu.Path
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fetch.String(), nil)
	hc := b.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	pemBytes, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		return errors.New("no certificate at " + fetch.String())
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return err
	}
	keys := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if m["Type"] != "Notification" {
		keys = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var s strings.Builder
	for _, k := range keys {
		if v, ok := m[k]; ok {
			s.WriteString(k + "\n" + v + "\n")
		}
	}
	sig, err := base64.StdEncoding.DecodeString(m["Signature"])
	if err != nil {
		return err
	}
	alg := x509.SHA1WithRSA
	if m["SignatureVersion"] == "2" {
		alg = x509.SHA256WithRSA
	}
	return cert.CheckSignature(alg, []byte(s.String()), sig)
}

func (b *board) show(w http.ResponseWriter, _ *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(w, "coffee news board: %d verified, %d rejected\n", len(b.news), b.rejected)
	for _, n := range b.news {
		fmt.Fprintln(w, "-", n)
	}
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
