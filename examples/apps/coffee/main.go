// Command coffee is the coffee shop example: a cashier takes orders and
// puts them on a queue; baristas take orders off the queue, make them and
// delete them. They talk only through SQS with the stock aws-sdk-go-v2
// client: Orch gives every container AWS_ENDPOINT_URL, AWS_REGION and
// credentials, so there is no Orch-specific code here.
//
//	coffee cashier [-orders N] [-every D]   place N orders, then exit 0
//	coffee barista [-brew D] [-protect]     serve orders until stopped
//	coffee announce                         publish the shop's news to the
//	                                        coffee-news topic (SNS), then exit 0
//
// A barista stopped (SIGTERM) in the middle of an order finishes it and
// deletes it before exiting, within the task's stopTimeout. With -protect
// it also holds ECS task scale-in protection ($ECS_AGENT_URI) while it has
// orders to make, so a scale-in picks idle baristas.
//
// QUEUE (default "orders") names the queue.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

var drinks = []string{"espresso", "latte", "cappuccino", "flat white", "mocha", "americano"}

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: coffee cashier|barista [flags]")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatalf("aws config: %v", err)
	}
	if os.Args[1] == "announce" {
		announce(ctx, sns.NewFromConfig(cfg))
		return
	}
	client := sqs.NewFromConfig(cfg)
	queue := os.Getenv("QUEUE")
	if queue == "" {
		queue = "orders"
	}
	url, err := queueURL(ctx, client, queue)
	if err != nil {
		log.Fatalf("find queue %s: %v", queue, err)
	}
	host, _ := os.Hostname()
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	switch os.Args[1] {
	case "cashier":
		n := fs.Int("orders", 10, "orders to place")
		every := fs.Duration("every", 100*time.Millisecond, "time between orders")
		asJSON := fs.Bool("json", false, `place orders as JSON ({"id","customer","drink","price"}, what the receipt function reads)`)
		fs.Parse(os.Args[2:])
		for i := 1; i <= *n; i++ {
			body := fmt.Sprintf("order %d: %s", i, drinks[i%len(drinks)])
			if *asJSON {
				body = fmt.Sprintf(`{"id":"%s-%d","customer":"guest %d","drink":%q,"price":%.2f}`, host, i, i, drinks[i%len(drinks)], 2.5+float64(i%4)*0.5)
			}
			if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String(body)}); err != nil {
				log.Fatalf("cashier %s: send %q: %v", host, body, err)
			}
			log.Printf("cashier %s: placed %s", host, body)
			time.Sleep(*every)
		}
		log.Printf("cashier %s: all %d orders placed", host, *n)
	case "barista":
		brew := fs.Duration("brew", 200*time.Millisecond, "time to make a drink")
		protect := fs.Bool("protect", false, "hold scale-in protection while there are orders")
		fs.Parse(os.Args[2:])
		log.Printf("barista %s: ready", host)
		wait, protected := int32(20), false
		if *protect {
			wait = 1 // notice an empty queue soon, to drop the protection
		}
		for ctx.Err() == nil {
			out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 1, WaitTimeSeconds: wait})
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				log.Printf("barista %s: receive: %v", host, err)
				time.Sleep(time.Second)
				continue
			}
			if *protect && (len(out.Messages) > 0) != protected {
				protected = len(out.Messages) > 0
				if err := setProtection(protected); err != nil {
					log.Printf("barista %s: scale-in protection: %v", host, err)
				}
			}
			for _, m := range out.Messages {
				time.Sleep(*brew)
				// Delete only after the drink is made (a crash midway
				// makes the order visible again for another barista); a
				// SIGTERM midway still finishes the order, so a scale-in
				// never makes an order be made twice.
				if _, err := client.DeleteMessage(context.WithoutCancel(ctx), &sqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: m.ReceiptHandle}); err != nil {
					log.Printf("barista %s: delete: %v", host, err)
					continue
				}
				log.Printf("barista %s: served %s", host, aws.ToString(m.Body))
			}
		}
		log.Printf("barista %s: closing", host)
	default:
		log.Fatalf("unknown role %q: use cashier or barista", os.Args[1])
	}
}

// setProtection sets the task's scale-in protection through the task
// endpoint the agent serves, as on ECS.
func setProtection(on bool) error {
	uri := os.Getenv("ECS_AGENT_URI")
	if uri == "" {
		return errors.New("ECS_AGENT_URI is not set")
	}
	body := fmt.Sprintf(`{"ProtectionEnabled":%t,"ExpiresInMinutes":5}`, on)
	req, err := http.NewRequest(http.MethodPut, uri+"/task-protection/v1/state", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	return nil
}

// queueURL waits for the queue to exist (the manifest creates it).
func queueURL(ctx context.Context, c *sqs.Client, name string) (*string, error) {
	for {
		out, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
		if err == nil {
			return out.QueueUrl, nil
		}
		if ctx.Err() != nil {
			return nil, errors.Join(err, ctx.Err())
		}
		log.Printf("waiting for queue %s: %v", name, err)
		time.Sleep(time.Second)
	}
}

// news is what the shop announces: each item has a kind (the
// subscribers' filter policies pick by it) and new products a price.
var news = []struct{ kind, text, price string }{
	{"coupon", "Two flat whites for the price of one, today only", ""},
	{"trivia", "Espresso has less caffeine per cup than drip coffee", ""},
	{"new-product", "New: single-origin Ethiopian beans", "12"},
	{"new-product", "New: oat-milk cortado", "4"},
	{"coupon", "10% off beans with code BEANS10", ""},
}

// announce publishes the news to the coffee-news topic (TOPIC).
func announce(ctx context.Context, c *sns.Client) {
	topic := os.Getenv("TOPIC")
	if topic == "" {
		topic = "coffee-news"
	}
	out, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(topic)}) // idempotent: finds the manifest's topic
	if err != nil {
		log.Fatalf("announce: topic %s: %v", topic, err)
	}
	for _, n := range news {
		attrs := map[string]snstypes.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String(n.kind)}}
		if n.price != "" {
			attrs["price"] = snstypes.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(n.price)}
		}
		if _, err := c.Publish(ctx, &sns.PublishInput{TopicArn: out.TopicArn, Message: aws.String(n.text), MessageAttributes: attrs}); err != nil {
			log.Fatalf("announce: publish %q: %v", n.text, err)
		}
		log.Printf("announce: published %s: %s", n.kind, n.text)
	}
}
