// roleprobe is a task for TestDockerTaskRoles: it loads the stock AWS
// SDK's default configuration (no keys given: the container credentials
// endpoint provides them) and makes one SQS call.
//
//	roleprobe send QUEUE BODY   SendMessage
//	roleprobe purge QUEUE       PurgeQueue
//	roleprobe creds             print the credentials the chain found (test only)
//
// It prints "ok" or "error: <code>: <message>" and exits 0 or 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fail(err)
	}
	c := sqs.NewFromConfig(cfg)
	switch os.Args[1] {
	case "creds":
		cr, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			fail(err)
		}
		b, _ := json.Marshal(map[string]string{"AccessKeyId": cr.AccessKeyID, "SecretAccessKey": cr.SecretAccessKey, "Token": cr.SessionToken, "Source": cr.Source})
		fmt.Println("creds " + string(b))
	case "send":
		u, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(os.Args[2])})
		if err != nil {
			fail(err)
		}
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: u.QueueUrl, MessageBody: aws.String(os.Args[3])}); err != nil {
			fail(err)
		}
	case "purge":
		u, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(os.Args[2])})
		if err != nil {
			fail(err)
		}
		if _, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: u.QueueUrl}); err != nil {
			fail(err)
		}
	}
	fmt.Println("ok")
}

func fail(err error) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		fmt.Printf("error: %s: %s\n", ae.ErrorCode(), ae.ErrorMessage())
	} else {
		fmt.Printf("error: %v\n", err)
	}
	os.Exit(1)
}
