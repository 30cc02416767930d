package topic_test

import (
	"encoding/json"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
)

// smtpServer runs Debian's aiosmtpd, a real SMTP server, storing what it
// receives in a maildir.
func smtpServer(t *testing.T) (addr, maildir string) {
	t.Helper()
	py := "/usr/bin/python3"
	ok := exec.Command(py, "-c", "import aiosmtpd").Run() == nil
	need(t, "aiosmtpd", "apt-get install -y python3-aiosmtpd", ok)
	addr, maildir = freeAddr(t), filepath.Join(t.TempDir(), "maildir")
	cmd := exec.Command(py, "-m", "aiosmtpd", "-n", "-l", addr, "-c", "aiosmtpd.handlers.Mailbox", maildir)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, maildir
		}
		if time.Now().After(deadline) {
			t.Fatal("aiosmtpd did not listen within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mailsTo waits until the maildir holds n messages to rcpt and returns them.
func mailsTo(t *testing.T, maildir, rcpt string, n int) []*mail.Message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out []*mail.Message
		files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				continue
			}
			m, err := mail.ReadMessage(fh)
			if err == nil && m.Header.Get("To") == rcpt {
				var r io.Reader = m.Body
				if m.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
					r = quotedprintable.NewReader(r)
				}
				b, _ := io.ReadAll(r)
				if subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err == nil {
					m.Header["Subject"] = []string{subj}
				}
				m.Body = strings.NewReader(string(b))
				out = append(out, m)
			}
			fh.Close()
		}
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mails to %s within 30s, want %d", len(out), rcpt, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func body(m *mail.Message) string {
	b, _ := io.ReadAll(m.Body)
	m.Body = strings.NewReader(string(b))
	return string(b)
}

func TestEmailSubscriptionsThroughSMTPRelay(t *testing.T) {
	relay, maildir := smtpServer(t)
	srv := startServer(t, t.TempDir(), freeAddr(t), "--smtp-relay", relay, "--smtp-from", "news@coffee.test")
	ctx := ctxT(t, 2*time.Minute)
	sn := srv.sns()
	ct, err := sn.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String("mail-news")})
	if err != nil {
		t.Fatal(err)
	}
	// email: the confirmation mail carries the SubscribeURL; a GET confirms.
	sub, err := sn.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: ct.TopicArn, Protocol: aws.String("email"), Endpoint: aws.String("barista@coffee.test")})
	if err != nil || *sub.SubscriptionArn != "pending confirmation" {
		t.Fatalf("Subscribe(email) = %v, %v", sub, err)
	}
	conf := mailsTo(t, maildir, "barista@coffee.test", 1)[0]
	if conf.Header.Get("Subject") != "AWS Notification - Subscription Confirmation" || conf.Header.Get("From") != "news@coffee.test" {
		t.Errorf("confirmation headers %v", conf.Header)
	}
	link := regexp.MustCompile(`http://\S+Action=ConfirmSubscription\S+`).FindString(body(conf))
	if link == "" {
		t.Fatalf("no SubscribeURL in the confirmation mail:\n%s", body(conf))
	}
	resp, err := http.Get(link)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET SubscribeURL: %v %v", resp, err)
	}
	resp.Body.Close()
	// email-json: the signed confirmation document; ConfirmSubscription with its Token.
	if _, err := sn.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: ct.TopicArn, Protocol: aws.String("email-json"), Endpoint: aws.String("robot@coffee.test")}); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body(mailsTo(t, maildir, "robot@coffee.test", 1)[0])), &doc); err != nil {
		t.Fatalf("email-json confirmation is not JSON: %v", err)
	}
	if doc["Type"] != "SubscriptionConfirmation" {
		t.Fatalf("email-json confirmation %v", doc)
	}
	if err := verifyWithOpenSSL(t, doc); err != nil {
		t.Errorf("email-json confirmation signature: %v", err)
	}
	if _, err := sn.ConfirmSubscription(ctx, &awssns.ConfirmSubscriptionInput{TopicArn: ct.TopicArn, Token: aws.String(doc["Token"].(string))}); err != nil {
		t.Fatal(err)
	}
	pub, err := sn.Publish(ctx, &awssns.PublishInput{TopicArn: ct.TopicArn, Subject: aws.String("Coupon of the day"), Message: aws.String("Two flat whites for one.")})
	if err != nil {
		t.Fatal(err)
	}
	n := mailsTo(t, maildir, "barista@coffee.test", 2)
	var note *mail.Message
	for _, m := range n {
		if m.Header.Get("Subject") == "Coupon of the day" {
			note = m
		}
	}
	if note == nil || !strings.HasPrefix(body(note), "Two flat whites for one.") || !strings.Contains(body(note), "Action=Unsubscribe") {
		t.Fatalf("email notification missing or wrong: %v", n)
	}
	var env map[string]any
	for _, m := range mailsTo(t, maildir, "robot@coffee.test", 2) {
		if m.Header.Get("Subject") == "Coupon of the day" {
			_ = json.Unmarshal([]byte(body(m)), &env)
		}
	}
	if env["MessageId"] != *pub.MessageId || env["Message"] != "Two flat whites for one." {
		t.Fatalf("email-json notification %v", env)
	}
	if err := verifyWithOpenSSL(t, env); err != nil {
		t.Errorf("email-json notification signature: %v", err)
	}
}
