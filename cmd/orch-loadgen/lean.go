package main

// The lean SQS client (--client lean). The stock aws-sdk-go-v2 client spends
// about 1,000 µs of CPU per single message on a 2-core machine (its
// middleware stack, signing from scratch, reflection-based JSON, retries,
// one round trip per delete), five times an AMQP client's. On a machine the
// load generator shares with the server that caps what a single-message
// run can show, whatever the server does. This client speaks the same wire
// protocol the SDK does (AWS JSON 1.0, X-Amz-Target: AmazonSQS.*, SigV4 over
// the body) with the work an SQS client must do and nothing more:
//
//   - SigV4: the signing key is derived once per day (four HMACs), then each
//     request costs one SHA-256 of its body, one of its canonical request
//     and one HMAC, built in one reused buffer;
//   - MD5 checks: every send's MD5OfMessageBody and every received
//     message's MD5OfBody is compared with the body's MD5, as the SDK does;
//   - HTTP/1.1 keep-alive over TLS (the server's protocol): a request is
//     written to a kept-alive connection in one write and its answer read
//     on the calling goroutine (net/http's Transport hands each request to
//     a writer and a reader goroutine per connection, two hand-offs that
//     cost more than the signing on a 2-core machine).
//
// It is a benchmark client, not a library: no retries (an error is counted),
// no attributes, no FIFO parameters. The default client and the headline
// figures stay the stock SDK's.

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/orch-project/orch/internal/jsonstr"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// leanClient is a minimal SQS JSON-protocol client; safe for concurrent use.
type leanClient struct {
	endpoint string // https://host:port
	host     string
	region   string
	ak, sk   string
	dial     func(ctx context.Context) (net.Conn, error)
	idle     chan *leanConn // kept-alive connections

	mu      sync.Mutex
	keyDay  string
	signKey []byte

	bufs sync.Pool // *[]byte: request bodies and signing scratch
}

func newLeanClient(endpoint, region, ak, sk string, tlsCfg *tls.Config) (*leanClient, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("--endpoint %q: want http(s)://host:port", endpoint)
	}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	c := &leanClient{endpoint: u.Scheme + "://" + u.Host + "/", host: u.Host, region: region, ak: ak, sk: sk,
		idle: make(chan *leanConn, 256)}
	c.dial = func(ctx context.Context) (net.Conn, error) { return countingDial(d.DialContext)(ctx, "tcp", u.Host) }
	if u.Scheme == "https" {
		cfg := &tls.Config{}
		if tlsCfg != nil {
			cfg = tlsCfg.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		cfg.NextProtos = []string{"http/1.1"}
		td := &tls.Dialer{NetDialer: d, Config: cfg}
		c.dial = func(ctx context.Context) (net.Conn, error) { return countingDial(td.DialContext)(ctx, "tcp", u.Host) }
	}
	c.bufs.New = func() any { b := make([]byte, 0, 2048); return &b }
	return c, nil
}

// signingKey is the day's key, derived once per day.
func (c *leanClient) signingKey(day string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keyDay != day {
		k := hmacSum([]byte("AWS4"+c.sk), day)
		k = hmacSum(k, c.region)
		k = hmacSum(k, "sqs")
		c.signKey, c.keyDay = hmacSum(k, "aws4_request"), day
	}
	return c.signKey
}

func hmacSum(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	io.WriteString(h, data)
	return h.Sum(nil)
}

// sqsError is an error answer of the service.
type sqsError struct {
	Status  int
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func (e *sqsError) Error() string {
	return fmt.Sprintf("sqs %d %s: %s", e.Status, e.Type, e.Message)
}

// call posts body to action and decodes the answer into out.
func (c *leanClient) call(ctx context.Context, action string, body []byte, out any) error {
	now := time.Now().UTC()
	var ts [16]byte
	amz := now.AppendFormat(ts[:0], "20060102T150405Z")
	day := string(amz[:8])
	target := "AmazonSQS." + action
	bodySum := sha256.Sum256(body)

	bp := c.bufs.Get().(*[]byte)
	defer c.bufs.Put(bp)
	// The canonical request: the headers signed are those the server
	// requires signed (host, and every x-amz-*) and the content type.
	b := append((*bp)[:0], "POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:"...)
	b = append(b, c.host...)
	b = append(b, "\nx-amz-date:"...)
	b = append(b, amz...)
	b = append(b, "\nx-amz-target:"...)
	b = append(b, target...)
	b = append(b, "\n\ncontent-type;host;x-amz-date;x-amz-target\n"...)
	b = hex.AppendEncode(b, bodySum[:])
	creq := sha256.Sum256(b)
	b = append(b[:0], "AWS4-HMAC-SHA256\n"...)
	b = append(b, amz...)
	b = append(b, '\n')
	scope := day + "/" + c.region + "/sqs/aws4_request"
	b = append(b, scope...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, creq[:])
	mac := hmac.New(sha256.New, c.signingKey(day))
	mac.Write(b)
	sig := hex.EncodeToString(mac.Sum(nil))
	*bp = b

	// The request, headers and body, in one buffer and one write.
	b = append(b[:0], "POST / HTTP/1.1\r\nHost: "...)
	b = append(b, c.host...)
	b = append(b, "\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Date: "...)
	b = append(b, amz...)
	b = append(b, "\r\nX-Amz-Target: "...)
	b = append(b, target...)
	b = append(b, "\r\nAuthorization: AWS4-HMAC-SHA256 Credential="...)
	b = append(b, c.ak...)
	b = append(b, '/')
	b = append(b, scope...)
	b = append(b, ", SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="...)
	b = append(b, sig...)
	b = strconv.AppendInt(append(b, "\r\nContent-Length: "...), int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	*bp = b
	status, raw, err := c.roundTrip(ctx, b)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	if status != http.StatusOK {
		e := &sqsError{Status: status}
		if json.Unmarshal(raw, e) != nil || e.Type == "" {
			e.Message = string(raw)
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s: decoding the answer: %w", action, err)
		}
	}
	return nil
}

// leanConn is a kept-alive connection and its reader.
type leanConn struct {
	net.Conn
	r *bufio.Reader
}

// roundTrip writes req on a kept-alive connection (or a new one) and
// reads the answer on this goroutine. A connection that fails, or that
// the server means to close, is not reused.
func (c *leanClient) roundTrip(ctx context.Context, req []byte) (int, []byte, error) {
	var lc *leanConn
	select {
	case lc = <-c.idle:
	default:
		conn, err := c.dial(ctx)
		if err != nil {
			return 0, nil, err
		}
		lc = &leanConn{Conn: conn, r: bufio.NewReaderSize(conn, 16<<10)}
	}
	deadline := time.Now().Add(60 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	lc.SetDeadline(deadline)
	if _, err := lc.Write(req); err != nil {
		lc.Close()
		return 0, nil, err
	}
	resp, err := http.ReadResponse(lc.r, nil)
	if err != nil {
		lc.Close()
		return 0, nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		lc.Close()
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.Close {
		lc.Close()
	} else {
		select {
		case c.idle <- lc:
		default:
			lc.Close()
		}
	}
	return resp.StatusCode, raw, nil
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (c *leanClient) CreateQueue(ctx context.Context, name string) (string, error) {
	var out struct{ QueueUrl string }
	err := c.call(ctx, "CreateQueue", append(jsonstr.Append([]byte(`{"QueueName":`), name), '}'), &out)
	return out.QueueUrl, err
}

func (c *leanClient) DeleteQueue(ctx context.Context, qurl string) error {
	b := append(jsonstr.Append([]byte(`{"QueueUrl":`), qurl), '}')
	return c.call(ctx, "DeleteQueue", b, nil)
}

// Send sends bodies: SendMessage for one (batch false), else
// SendMessageBatch. It returns how many the server acknowledged with the
// right MD5.
func (c *leanClient) Send(ctx context.Context, qurl string, bodies []string, batch bool) (int, error) {
	b := jsonstr.Append([]byte(`{"QueueUrl":`), qurl)
	if !batch && len(bodies) == 1 {
		b = jsonstr.Append(append(b, `,"MessageBody":`...), bodies[0])
		b = append(b, '}')
		var out struct{ MessageId, MD5OfMessageBody string }
		if err := c.call(ctx, "SendMessage", b, &out); err != nil {
			return 0, err
		}
		if want := md5Hex(bodies[0]); out.MD5OfMessageBody != want {
			return 0, fmt.Errorf("SendMessage: MD5OfMessageBody %q, want %q (the body was changed on the way)", out.MD5OfMessageBody, want)
		}
		return 1, nil
	}
	b = append(b, `,"Entries":[`...)
	for i, body := range bodies {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(append(b, `{"Id":"`...), int64(i), 10)
		b = jsonstr.Append(append(b, `","MessageBody":`...), body)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	var out struct {
		Successful []struct{ Id, MD5OfMessageBody string }
		Failed     []struct{ Id, Code, Message string }
	}
	if err := c.call(ctx, "SendMessageBatch", b, &out); err != nil {
		return 0, err
	}
	ok := 0
	for _, s := range out.Successful {
		i, err := strconv.Atoi(s.Id)
		if err != nil || i < 0 || i >= len(bodies) {
			return ok, fmt.Errorf("SendMessageBatch: an answer for entry %q, which was not sent", s.Id)
		}
		if want := md5Hex(bodies[i]); s.MD5OfMessageBody != want {
			return ok, fmt.Errorf("SendMessageBatch entry %s: MD5OfMessageBody %q, want %q", s.Id, s.MD5OfMessageBody, want)
		}
		ok++
	}
	if len(out.Failed) > 0 {
		return ok, fmt.Errorf("send batch: %d entries failed: %s: %s", len(out.Failed), out.Failed[0].Code, out.Failed[0].Message)
	}
	return ok, nil
}

// message is a received message.
type message struct {
	MessageId, ReceiptHandle, MD5OfBody, Body string
}

// Receive receives up to max messages, waiting up to wait seconds; every
// body's MD5 is checked.
func (c *leanClient) Receive(ctx context.Context, qurl string, max, wait int) ([]message, error) {
	b := jsonstr.Append([]byte(`{"QueueUrl":`), qurl)
	b = strconv.AppendInt(append(b, `,"MaxNumberOfMessages":`...), int64(max), 10)
	b = strconv.AppendInt(append(b, `,"WaitTimeSeconds":`...), int64(wait), 10)
	b = append(b, '}')
	var out struct{ Messages []message }
	if err := c.call(ctx, "ReceiveMessage", b, &out); err != nil {
		return nil, err
	}
	for _, m := range out.Messages {
		if want := md5Hex(m.Body); m.MD5OfBody != want {
			return nil, fmt.Errorf("ReceiveMessage: message %s: MD5OfBody %q, want %q (the body was changed on the way)", m.MessageId, m.MD5OfBody, want)
		}
	}
	return out.Messages, nil
}

// Delete deletes by receipt handle: DeleteMessage for one (batch false),
// else DeleteMessageBatch; it returns how many were deleted.
func (c *leanClient) Delete(ctx context.Context, qurl string, handles []string, batch bool) (int, error) {
	b := jsonstr.Append([]byte(`{"QueueUrl":`), qurl)
	if !batch && len(handles) == 1 {
		b = jsonstr.Append(append(b, `,"ReceiptHandle":`...), handles[0])
		b = append(b, '}')
		if err := c.call(ctx, "DeleteMessage", b, nil); err != nil {
			return 0, err
		}
		return 1, nil
	}
	b = append(b, `,"Entries":[`...)
	for i, h := range handles {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(append(b, `{"Id":"`...), int64(i), 10)
		b = jsonstr.Append(append(b, `","ReceiptHandle":`...), h)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	var out struct {
		Successful []struct{ Id string }
		Failed     []struct{ Id, Code, Message string }
	}
	if err := c.call(ctx, "DeleteMessageBatch", b, &out); err != nil {
		return 0, err
	}
	if len(out.Failed) > 0 {
		return len(out.Successful), fmt.Errorf("delete batch: %d entries failed: %s: %s", len(out.Failed), out.Failed[0].Code, out.Failed[0].Message)
	}
	return len(out.Successful), nil
}
