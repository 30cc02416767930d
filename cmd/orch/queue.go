package main

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/model"
	"github.com/spf13/cobra"
)

// queuesCLI is the CLI's view of queues; `orch queue` sends, receives, purges and redrives.
var queuesCLI = cliKind{
	name:    "queues",
	aliases: []string{"queue", "q"},
	get:     getQueues, describe: describeQueue, del: deleteQueue,
	commands: []func(*globals) *cobra.Command{queueCmd},
}

func queuePath(name string, rest ...string) string {
	p := "/v1/queues/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

func getQueues(cmd *cobra.Command, c *client.Client, name, output string) error {
	var qs []*wire.QueueView
	var err error
	if name != "" {
		var v wire.QueueView
		if err := c.Do(cmd.Context(), "GET", queuePath(name), nil, &v); err != nil {
			return err
		}
		qs = []*wire.QueueView{&v}
	} else if qs, err = c.ListQueues(cmd.Context(), ""); err != nil {
		return err
	}
	if output != "table" && output != "wide" {
		return printObject(cmd.OutOrStdout(), output, qs)
	}
	cols := []string{"QUEUE", "TYPE", "VISIBLE", "IN FLIGHT", "DELAYED", "OLDEST", "DEAD-LETTER QUEUE"}
	if output == "wide" {
		cols = append(cols, "URL")
	}
	t := newTable(cmd.OutOrStdout(), cols...)
	for _, q := range qs {
		typ := "standard"
		if q.Fifo {
			typ = "fifo"
		}
		oldest := "-"
		if q.Visible+q.InFlight+q.Delayed > 0 {
			oldest = (time.Duration(q.OldestAgeSeconds) * time.Second).String()
		}
		dlq := "-"
		if q.DeadLetterQueue != "" {
			dlq = fmt.Sprintf("%s (after %d receives)", q.DeadLetterQueue, q.MaxReceiveCount)
		}
		row := []string{q.Name, typ, strconv.Itoa(q.Visible), strconv.Itoa(q.InFlight), strconv.Itoa(q.Delayed), oldest, dlq}
		if output == "wide" {
			row = append(row, q.URL)
		}
		t.row(row...)
	}
	return t.flush()
}

func describeQueue(cmd *cobra.Command, c *client.Client, name string) error {
	var v wire.QueueView
	if err := c.Do(cmd.Context(), "GET", queuePath(name), nil, &v); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	typ := "standard"
	if v.Fifo {
		typ = "FIFO"
	}
	fmt.Fprintf(w, "Name:        %s (%s)\nURL:         %s\nARN:         %s\n", v.Name, typ, v.URL, v.Arn)
	fmt.Fprintf(w, "Messages:    %d visible, %d in flight, %d delayed; oldest %ds old\n", v.Visible, v.InFlight, v.Delayed, v.OldestAgeSeconds)
	if v.DeadLetterQueue != "" {
		fmt.Fprintf(w, "Dead letters: to %s after %d receives\n", v.DeadLetterQueue, v.MaxReceiveCount)
	}
	if len(v.Sources) > 0 {
		fmt.Fprintf(w, "Dead-letter queue of: %s (redrive with: orch queue redrive %s)\n", strings.Join(v.Sources, ", "), v.Name)
	}
	fmt.Fprintln(w, "Attributes:")
	keys := make([]string, 0, len(v.Attributes))
	for k := range v.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", k, v.Attributes[k])
	}
	if len(v.Tags) > 0 {
		fmt.Fprintln(w, "Tags:")
		for k, val := range v.Tags {
			fmt.Fprintf(w, "  %s: %s\n", k, val)
		}
	}
	var moves []map[string]any
	if err := c.Do(cmd.Context(), "GET", queuePath(name, "redrive"), nil, &moves); err == nil && len(moves) > 0 {
		fmt.Fprintln(w, "Redrives:")
		for _, m := range moves {
			fmt.Fprintf(w, "  %v: moved %v of %v %v\n", m["Status"], m["ApproximateNumberOfMessagesMoved"], m["ApproximateNumberOfMessagesToMove"], orDash(fmt.Sprint(m["FailureReason"])))
		}
	}
	return nil
}

func deleteQueue(cmd *cobra.Command, c *client.Client, name string) error {
	if err := c.Do(cmd.Context(), "DELETE", queuePath(name), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "queue %s deleted\n", name)
	return nil
}

func queueCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Send, receive, purge, delete and redrive queue messages (queues speak SQS too: see orch aws-env)",
	}
	cmd.AddCommand(queueSendCmd(g), queueReceiveCmd(g), queueSimpleCmd(g, "purge", "Delete every message in a queue"),
		queueSimpleCmd(g, "delete", "Delete a queue and its messages"), queueRedriveCmd(g))
	return cmd
}

func queueSendCmd(g *globals) *cobra.Command {
	var req wire.SendMessageRequest
	var delay int
	var attrs []string
	cmd := &cobra.Command{
		Use:   "send QUEUE BODY",
		Short: "Send a message",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			req.Body = args[1]
			if cmd.Flags().Changed("delay") {
				req.DelaySeconds = &delay
			}
			for _, a := range attrs {
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					return fmt.Errorf("--attribute %q: use NAME=VALUE", a)
				}
				if req.Attributes == nil {
					req.Attributes = map[string]model.MessageAttributeValue{}
				}
				req.Attributes[k] = model.MessageAttributeValue{DataType: "String", StringValue: v}
			}
			var out map[string]string
			if err := c.Do(cmd.Context(), "POST", queuePath(args[0], "messages"), req, &out); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out["messageId"])
			return nil
		},
	}
	cmd.Flags().IntVar(&delay, "delay", 0, "seconds before the message becomes visible (0-900)")
	cmd.Flags().StringVar(&req.GroupID, "group", "", "MessageGroupId (FIFO queues)")
	cmd.Flags().StringVar(&req.DeduplicationID, "dedup", "", "MessageDeduplicationId (FIFO queues)")
	cmd.Flags().StringArrayVar(&attrs, "attribute", nil, "message attribute NAME=VALUE (String), repeatable")
	return cmd
}

func queueReceiveCmd(g *globals) *cobra.Command {
	var req wire.ReceiveMessagesRequest
	var output string
	cmd := &cobra.Command{
		Use:   "receive QUEUE",
		Short: "Receive messages (they stay in the queue unless --delete)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var ms []wire.QueueMessage
			if err := c.Do(cmd.Context(), "POST", queuePath(args[0], "receive"), req, &ms); err != nil {
				return err
			}
			if output != "table" {
				return printObject(cmd.OutOrStdout(), output, ms)
			}
			t := newTable(cmd.OutOrStdout(), "MESSAGE ID", "RECEIVES", "SENT", "BODY")
			for _, m := range ms {
				sent := "-"
				if ms, err := strconv.ParseInt(m.Attributes["SentTimestamp"], 10, 64); err == nil {
					sent = age(time.UnixMilli(ms))
				}
				t.row(m.MessageID, orDash(m.Attributes["ApproximateReceiveCount"]), sent, truncate(strings.ReplaceAll(m.Body, "\n", `\n`), 80))
			}
			return t.flush()
		},
	}
	cmd.Flags().IntVar(&req.Max, "max", 10, "at most this many messages (1-10)")
	cmd.Flags().IntVar(&req.WaitSeconds, "wait", 0, "long-poll up to this many seconds (0-20)")
	cmd.Flags().BoolVar(&req.Delete, "delete", false, "delete the messages received")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, json or yaml")
	return cmd
}

func queueSimpleCmd(g *globals, verb, short string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " QUEUE",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			method, path := "POST", queuePath(args[0], "purge")
			if verb == "delete" {
				method, path = "DELETE", queuePath(args[0])
			}
			if err := c.Do(cmd.Context(), method, path, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "queue %s %sd\n", args[0], verb) // purged, deleted
			return nil
		},
	}
}

func queueRedriveCmd(g *globals) *cobra.Command {
	var req wire.RedriveRequest
	cmd := &cobra.Command{
		Use:   "redrive DEAD-LETTER-QUEUE",
		Short: "Move a dead-letter queue's messages back to the queues they came from (or --to QUEUE)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "POST", queuePath(args[0], "redrive"), req, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "redrive of %s started; follow it with: orch describe queue %s\n", args[0], args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Destination, "to", "", "destination queue (default: each message's original queue)")
	cmd.Flags().IntVar(&req.RatePerSec, "rate", 0, "messages per second (1-500; default 500)")
	return cmd
}
