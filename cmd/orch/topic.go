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
	"github.com/spf13/cobra"
)

// topicsCLI is the CLI's view of topics; `orch topic` publishes,
// subscribes and unsubscribes (topics speak SNS too: see orch aws-env).
var topicsCLI = cliKind{
	name:    "topics",
	aliases: []string{"topic"},
	get:     getTopics, describe: describeTopic, del: deleteTopic,
	commands: []func(*globals) *cobra.Command{topicCmd},
}

func topicPath(name string, rest ...string) string {
	p := "/v1/topics/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

func getTopics(cmd *cobra.Command, c *client.Client, name, output string) error {
	var ts []wire.TopicView
	var err error
	if name != "" {
		var v wire.TopicView
		if err := c.Do(cmd.Context(), "GET", topicPath(name), nil, &v); err != nil {
			return err
		}
		ts = []wire.TopicView{v}
	} else if ts, err = c.ListTopics(cmd.Context()); err != nil {
		return err
	}
	if output != "table" && output != "wide" {
		return printObject(cmd.OutOrStdout(), output, ts)
	}
	cols := []string{"TOPIC", "TYPE", "SUBSCRIPTIONS", "DELIVERED", "PENDING", "FAILURES", "DEAD-LETTERED"}
	if output == "wide" {
		cols = append(cols, "ARN")
	}
	t := newTable(cmd.OutOrStdout(), cols...)
	for _, v := range ts {
		typ := "standard"
		if v.Fifo {
			typ = "fifo"
		}
		var del, pend, fail, dl int64
		for _, s := range v.Subscriptions {
			del, pend, fail, dl = del+s.Delivered, pend+s.Pending, fail+s.Failures, dl+s.DeadLettered
		}
		row := []string{v.Name, typ, strconv.Itoa(len(v.Subscriptions)), i64(del), i64(pend), i64(fail), i64(dl)}
		if output == "wide" {
			row = append(row, v.Arn)
		}
		t.row(row...)
	}
	return t.flush()
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

func describeTopic(cmd *cobra.Command, c *client.Client, name string) error {
	var v wire.TopicView
	if err := c.Do(cmd.Context(), "GET", topicPath(name), nil, &v); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	typ := "standard"
	if v.Fifo {
		typ = "FIFO"
	}
	fmt.Fprintf(w, "Name:        %s (%s)\nARN:         %s\n", v.Name, typ, v.Arn)
	printMap(w, "Attributes:", v.Attributes)
	printMap(w, "Tags:", v.Tags)
	fmt.Fprintf(w, "Subscriptions (%d; counts since the serving replica took over):\n", len(v.Subscriptions))
	for _, s := range v.Subscriptions {
		fmt.Fprintf(w, "  %s %s\n    ARN:    %s\n    State:  %s\n", s.Protocol, s.Endpoint, s.Arn, s.State)
		fmt.Fprintf(w, "    Deliveries: %d delivered, %d pending, %d failed attempts, %d dead-lettered, %d dropped\n",
			s.Delivered, s.Pending, s.Failures, s.DeadLettered, s.Dropped)
		keys := make([]string, 0, len(s.Attributes))
		for k := range s.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "    %s: %s\n", k, s.Attributes[k])
		}
	}
	return nil
}

func printMap(w interface{ Write([]byte) (int, error) }, title string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintln(w, title)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", k, m[k])
	}
}

func deleteTopic(cmd *cobra.Command, c *client.Client, name string) error {
	if err := c.Do(cmd.Context(), "DELETE", topicPath(name), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "topic %s deleted\n", name)
	return nil
}

func topicCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Publish to topics and manage their subscriptions (topics speak SNS too: see orch aws-env)",
	}
	cmd.AddCommand(topicPublishCmd(g), topicSubscribeCmd(g), topicUnsubscribeCmd(g), topicRotateKeyCmd(g))
	return cmd
}

// keyValues parses repeated NAME=VALUE flags.
func keyValues(flag string, kvs []string) (map[string]string, error) {
	var out map[string]string
	for _, a := range kvs {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: use NAME=VALUE", flag, a)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out, nil
}

func topicPublishCmd(g *globals) *cobra.Command {
	var req wire.PublishRequest
	var attrs []string
	cmd := &cobra.Command{
		Use:   "publish TOPIC --message TEXT",
		Short: "Publish a message to every matching subscription",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if req.Message == "" {
				return fmt.Errorf("--message is required")
			}
			if req.Attributes, err = keyValues("attribute", attrs); err != nil {
				return err
			}
			var out map[string]string
			if err := c.Do(cmd.Context(), "POST", topicPath(args[0], "publish"), req, &out); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out["messageId"])
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Message, "message", "", "the message text (required)")
	cmd.Flags().StringVar(&req.Subject, "subject", "", "the subject (at most 100 characters)")
	cmd.Flags().StringVar(&req.GroupID, "group", "", "MessageGroupId (FIFO topics)")
	cmd.Flags().StringVar(&req.DeduplicationID, "dedup", "", "MessageDeduplicationId (FIFO topics)")
	cmd.Flags().StringArrayVar(&attrs, "attribute", nil, "message attribute NAME=VALUE (String), repeatable")
	return cmd
}

func topicSubscribeCmd(g *globals) *cobra.Command {
	var req wire.SubscribeRequest
	var attrs []string
	cmd := &cobra.Command{
		Use:   "subscribe TOPIC --protocol sqs --endpoint QUEUE",
		Short: "Subscribe an endpoint (a queue by name or ARN, a URL, an address, a function ARN)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if req.Attributes, err = keyValues("attribute", attrs); err != nil {
				return err
			}
			var out map[string]any
			if err := c.Do(cmd.Context(), "POST", topicPath(args[0], "subscriptions"), req, &out); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out["subscriptionArn"])
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Protocol, "protocol", "sqs", "sqs, lambda, http, https, email or email-json")
	cmd.Flags().StringVar(&req.Endpoint, "endpoint", "", "where messages go (a queue name or ARN for sqs)")
	cmd.Flags().StringArrayVar(&attrs, "attribute", nil, "subscription attribute NAME=VALUE (RawMessageDelivery, FilterPolicy, RedrivePolicy, ...), repeatable")
	return cmd
}

func topicUnsubscribeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unsubscribe TOPIC SUBSCRIPTION-ARN",
		Short: "Delete a subscription",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "POST", topicPath(args[0], "unsubscribe"), wire.UnsubscribeRequest{SubscriptionArn: args[1]}, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "unsubscribed %s\n", args[1])
			return nil
		},
	}
}

func topicRotateKeyCmd(g *globals) *cobra.Command {
	var keep time.Duration
	cmd := &cobra.Command{
		Use:   "rotate-signing-key [--keep-old 336h]",
		Short: "Sign SNS messages with a new key; the old certificate stays served for --keep-old (admin)",
		Long: "Makes a new key the one every SNS message and confirmation is signed with, served at a new SigningCertURL.\n" +
			"The previous certificate stays served for --keep-old (default 14 days, SQS's longest retention), so messages\n" +
			"signed before the rotation still verify; deliveries and retries after it are signed with the new key.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			req := map[string]string{}
			if keep != 0 {
				req["keepRetiredCert"] = keep.String()
			}
			var out map[string]string
			if err := c.Do(cmd.Context(), "POST", "/v1/topic-signing-key/rotate", req, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signing with a new key, certificate %s\nthe previous certificate %s stays served until %s\n",
				out["signingCertURL"], out["previousCertURL"], out["previousServedUntil"])
			return nil
		},
	}
	cmd.Flags().DurationVar(&keep, "keep-old", 0, "how long the previous certificate stays served (1m to 2160h; default 336h)")
	return cmd
}
