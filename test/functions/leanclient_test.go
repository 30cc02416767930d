package functions

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// leanInvoker is a minimal Lambda Invoke client for the benchmarks' second
// column (as bench-queue's --client lean): the same wire request the stock
// SDK sends (POST /2015-03-31/functions/NAME/invocations, RequestResponse,
// SigV4 over the body) without its middleware stack. The signing key is
// derived once per day; each request costs a SHA-256 of the body and of
// the canonical request and one HMAC. It checks what a caller must: the
// status and X-Amz-Function-Error. The headline figures stay the SDK's.
type leanInvoker struct {
	endpoint, host, region, ak, sk string
	hc                             *http.Client

	mu      sync.Mutex
	keyDay  string
	signKey []byte
}

func newLeanInvoker(endpoint, ak, sk string) *leanInvoker {
	u, _ := url.Parse(endpoint)
	return &leanInvoker{endpoint: endpoint, host: u.Host, region: "us-east-1", ak: ak, sk: sk,
		hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}}
}

func hmacSum(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	io.WriteString(h, data)
	return h.Sum(nil)
}

func (c *leanInvoker) key(day string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keyDay != day {
		k := hmacSum([]byte("AWS4"+c.sk), day)
		k = hmacSum(k, c.region)
		k = hmacSum(k, "lambda")
		c.signKey, c.keyDay = hmacSum(k, "aws4_request"), day
	}
	return c.signKey
}

// invoke calls the function RequestResponse and returns the call's latency.
func (c *leanInvoker) invoke(ctx context.Context, name string, payload []byte) (time.Duration, error) {
	t0 := time.Now()
	path := "/2015-03-31/functions/" + name + "/invocations"
	amz := t0.UTC().Format("20060102T150405Z")
	day := amz[:8]
	sum := sha256.Sum256(payload)
	creq := "POST\n" + path + "\n\nhost:" + c.host + "\nx-amz-date:" + amz + "\n\nhost;x-amz-date\n" + hex.EncodeToString(sum[:])
	csum := sha256.Sum256([]byte(creq))
	scope := day + "/" + c.region + "/lambda/aws4_request"
	sig := hex.EncodeToString(hmacSum(c.key(day), "AWS4-HMAC-SHA256\n"+amz+"\n"+scope+"\n"+hex.EncodeToString(csum[:])))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+path, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Amz-Date", amz)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+c.ak+"/"+scope+", SignedHeaders=host;x-amz-date, Signature="+sig)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("invoke %s: HTTP %d: %s", name, resp.StatusCode, body)
	}
	if fe := resp.Header.Get("X-Amz-Function-Error"); fe != "" {
		return 0, fmt.Errorf("function error %s: %s", fe, body)
	}
	return time.Since(t0), nil
}
