package topic

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/model"
)

// SMTP is the relay email and email-json subscriptions are delivered
// through (orch server --smtp-relay). Without one such subscriptions are
// stored and receive nothing.
type SMTP struct {
	Relay string // host:port
	From  string // envelope and header sender; default no-reply@orch.local
	// Username and Password authenticate with PLAIN (only over TLS, or to
	// a relay on this host: net/smtp refuses otherwise). They come from a
	// file or the environment, never argv.
	Username, Password string
}

// emailDeliverer mails notifications: email gets the message text,
// email-json the JSON envelope.
type emailDeliverer struct {
	cfg     SMTP
	baseURL string
}

func (d *emailDeliverer) Deliver(ctx context.Context, n *Notification) error {
	subject := n.Message.Subject
	if subject == "" {
		subject = "AWS Notification Message"
	}
	body := string(n.Envelope)
	if n.Subscription.Protocol == model.ProtocolEmail || n.Raw {
		body = n.Text + "\n\n--\nIf you wish to stop receiving notifications from this topic, please click or visit the link below to unsubscribe:\n" +
			d.baseURL + "/?Action=Unsubscribe&SubscriptionArn=" + n.SubscriptionArn + "\n"
	}
	return d.send(ctx, n.Subscription.Endpoint, subject, body)
}

// send mails one message through the relay within ctx (at most 30 s).
func (d *emailDeliverer) send(ctx context.Context, to, subject, body string) error {
	if strings.ContainsAny(to, "\r\n") || strings.ContainsAny(subject, "\r\n") {
		subject = strings.NewReplacer("\r", " ", "\n", " ").Replace(subject)
		if strings.ContainsAny(to, "\r\n") {
			return &DeliveryError{Permanent: true, Code: "InvalidEndpoint", Err: errors.New("the address has a line break")}
		}
	}
	from := d.cfg.From
	if from == "" {
		from = "no-reply@orch.local"
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var dl net.Dialer
	conn, err := dl.DialContext(ctx, "tcp", d.cfg.Relay)
	if err != nil {
		return &DeliveryError{Code: "SMTPRelayUnreachable", Err: err}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(d.cfg.Relay)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return &DeliveryError{Code: "SMTPRelayUnreachable", Err: err}
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(nil); err != nil {
			return &DeliveryError{Code: "SMTPTLSFailed", Err: err}
		}
	}
	if d.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", d.cfg.Username, d.cfg.Password, host)); err != nil {
			return &DeliveryError{Code: "SMTPAuthFailed", Err: err}
		}
	}
	// Quoted-printable keeps lines under SMTP's 998-byte limit (an
	// email-json document is one long line) and 8-bit text intact.
	var qp strings.Builder
	qw := quotedprintable.NewWriter(&qp)
	_, _ = qw.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")))
	_ = qw.Close()
	msg := "From: " + from + "\r\nTo: " + to + "\r\nSubject: " + mime.QEncoding.Encode("utf-8", subject) + "\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + qp.String()
	if err := c.Mail(from); err != nil {
		return smtpErr(err)
	}
	if err := c.Rcpt(to); err != nil {
		return smtpErr(err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr(err)
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return smtpErr(err)
	}
	if err := w.Close(); err != nil {
		return smtpErr(err)
	}
	return c.Quit()
}

// smtpErr: a 5xx answer is permanent (the relay refuses the address).
func smtpErr(err error) error {
	var te interface{ Temporary() bool }
	code := "SMTPRejected"
	perm := strings.HasPrefix(err.Error(), "5")
	if errors.As(err, &te) && te.Temporary() {
		perm = false
	}
	return &DeliveryError{Permanent: perm, Code: code, Err: fmt.Errorf("smtp: %w", err)}
}

// sendEmailConfirmation mails the confirmation: email gets a note with
// the SubscribeURL, email-json the signed SubscriptionConfirmation
// document.
func (o *owner) sendEmailConfirmation(sub *model.Subscription, topicArn, version string) {
	d, ok := o.s.dels[sub.Protocol].(*emailDeliverer)
	if !ok {
		return
	}
	_, body := o.s.confirmation(o.ctx, sub, topicArn, version)
	if sub.Protocol == model.ProtocolEmail {
		body = []byte("You have chosen to subscribe to the topic:\n" + topicArn +
			"\n\nTo confirm this subscription, click or visit the link below (If this was in error no action is necessary):\n" +
			subscribeURL(o.s.opts.BaseURL, topicArn, sub.Token) + "\n")
	}
	for attempt := 1; attempt <= 4; attempt++ {
		err := d.send(o.ctx, sub.Endpoint, "AWS Notification - Subscription Confirmation", string(body))
		if o.ctx.Err() != nil {
			return // the next owner sends it again
		}
		if err == nil {
			o.confirmationSent(sub.ID)
			return
		}
		var de *DeliveryError
		if attempt == 4 || errors.As(err, &de) && de.Permanent {
			o.s.log.Warn("mailing the subscription confirmation failed; subscribe again to resend it", "err", err)
			o.confirmationSent(sub.ID)
			return
		}
		wait, release := after(o.s.clock, 20*time.Second)
		select {
		case <-wait:
		case <-o.ctx.Done():
			release()
			return
		}
	}
}
