package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/spf13/cobra"
)

var functionsCLI = cliKind{
	name:    "functions",
	aliases: []string{"function", "fn", "fns"},
	get:     getFunctions, describe: describeFunction, del: deleteFunction,
	commands: []func(*globals) *cobra.Command{invokeCmd},
}

var mappingsCLI = cliKind{
	name:    "eventsourcemappings",
	aliases: []string{"eventsourcemapping", "esm", "mappings"},
	get:     getMappings, describe: describeMapping, del: deleteMapping,
}

func getFunctions(cmd *cobra.Command, c *client.Client, name, output string) error {
	var fns []wire.Function
	if name != "" {
		f, err := c.Function(cmd.Context(), name)
		if err != nil {
			return err
		}
		fns = []wire.Function{*f}
	} else {
		var err error
		if fns, err = c.Functions(cmd.Context()); err != nil {
			return err
		}
	}
	if output != "table" && output != "wide" {
		return printObject(cmd.OutOrStdout(), output, fns)
	}
	cols := []string{"FUNCTION", "IMAGE", "MEMORY", "TIMEOUT", "CONCURRENCY", "INFLIGHT", "MODIFIED"}
	if output == "wide" {
		cols = append(cols, "ARN")
	}
	t := newTable(cmd.OutOrStdout(), cols...)
	for _, f := range fns {
		conc := "-"
		if f.ReservedConcurrentExecutions != nil {
			conc = strconv.Itoa(*f.ReservedConcurrentExecutions)
		}
		row := []string{f.FunctionName, f.Code.ImageUri, fmt.Sprintf("%d MB", f.MemorySize), fmt.Sprintf("%ds", f.Timeout),
			conc, strconv.Itoa(f.Inflight), f.LastModified.Format("2006-01-02 15:04:05")}
		if output == "wide" {
			row = append(row, f.FunctionArn)
		}
		t.row(row...)
	}
	return t.flush()
}

func describeFunction(cmd *cobra.Command, c *client.Client, name string) error {
	f, err := c.Function(cmd.Context(), name)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Name:         %s\nARN:          %s\nImage:        %s\nMemory:       %d MB\nTimeout:      %d s\n",
		f.FunctionName, f.FunctionArn, f.Code.ImageUri, f.MemorySize, f.Timeout)
	if f.ReservedConcurrentExecutions != nil {
		fmt.Fprintf(w, "Concurrency:  %d reserved\n", *f.ReservedConcurrentExecutions)
	} else {
		fmt.Fprintf(w, "Concurrency:  unreserved\n")
	}
	fmt.Fprintf(w, "In flight:    %d\nRevision:     %s\nModified:     %s\n", f.Inflight, f.RevisionId, f.LastModified.Format("2006-01-02 15:04:05 MST"))
	if f.DeadLetterConfig != nil {
		fmt.Fprintf(w, "Dead letters: %s\n", f.DeadLetterConfig.TargetArn)
	}
	if f.Environment != nil {
		printMap(w, "Environment:", f.Environment.Variables)
	}
	printMap(w, "Tags:", f.Tags)
	ms, err := c.EventSourceMappings(cmd.Context(), f.FunctionName)
	if err == nil && len(ms) > 0 {
		fmt.Fprintln(w, "Event sources:")
		for _, m := range ms {
			fmt.Fprintf(w, "  %v  %v  batch %v  %v\n", m["UUID"], m["EventSourceArn"], m["BatchSize"], m["State"])
		}
	}
	return nil
}

func deleteFunction(cmd *cobra.Command, c *client.Client, name string) error {
	if err := c.DeleteFunction(cmd.Context(), name); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "function %s deleted\n", name)
	return nil
}

func getMappings(cmd *cobra.Command, c *client.Client, name, output string) error {
	ms, err := c.EventSourceMappings(cmd.Context(), "")
	if err != nil {
		return err
	}
	if name != "" {
		kept := ms[:0]
		for _, m := range ms {
			if m["UUID"] == name {
				kept = append(kept, m)
			}
		}
		if len(kept) == 0 {
			return fmt.Errorf("event source mapping %s not found: orch get eventsourcemappings lists them", name)
		}
		ms = kept
	}
	if output != "table" && output != "wide" {
		return printObject(cmd.OutOrStdout(), output, ms)
	}
	sort.Slice(ms, func(i, j int) bool { return fmt.Sprint(ms[i]["FunctionArn"]) < fmt.Sprint(ms[j]["FunctionArn"]) })
	t := newTable(cmd.OutOrStdout(), "UUID", "FUNCTION", "SOURCE", "BATCH", "STATE")
	for _, m := range ms {
		fn := fmt.Sprint(m["FunctionArn"])
		fn = fn[strings.LastIndexByte(fn, ':')+1:]
		src := fmt.Sprint(m["EventSourceArn"])
		if output != "wide" {
			src = src[strings.LastIndexByte(src, ':')+1:]
		}
		t.row(fmt.Sprint(m["UUID"]), fn, src, fmt.Sprint(m["BatchSize"]), fmt.Sprint(m["State"]))
	}
	return t.flush()
}

func describeMapping(cmd *cobra.Command, c *client.Client, name string) error {
	return getMappings(cmd, c, name, "yaml")
}

func deleteMapping(cmd *cobra.Command, c *client.Client, name string) error {
	if err := c.DeleteEventSourceMapping(cmd.Context(), name); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "event source mapping %s deleted\n", name)
	return nil
}

func invokeCmd(g *globals) *cobra.Command {
	var payload, typ string
	var showLog bool
	cmd := &cobra.Command{
		Use:   "invoke FUNCTION [--payload JSON] [--type RequestResponse|Event|DryRun] [--log]",
		Short: "Invoke a function and print its answer (Lambda's Invoke; the AWS CLI works too: see orch aws-env)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if payload == "" {
				payload = "{}"
			}
			if payload == "-" {
				b, err := readAllStdin()
				if err != nil {
					return err
				}
				payload = string(b)
			}
			if !json.Valid([]byte(payload)) {
				return fmt.Errorf("--payload is not valid JSON: give a JSON document, e.g. --payload '{\"id\":\"o-1\"}'")
			}
			switch typ {
			case "RequestResponse", "Event", "DryRun":
			default:
				return fmt.Errorf("--type %q: use RequestResponse, Event or DryRun", typ)
			}
			res, err := c.Invoke(cmd.Context(), args[0], wire.InvokeRequest{Payload: json.RawMessage(payload), Type: typ, Log: showLog})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if showLog && res.Logs != "" {
				fmt.Fprint(cmd.ErrOrStderr(), res.Logs)
			}
			switch res.StatusCode {
			case 202:
				fmt.Fprintf(w, "accepted: request %s is stored and will run (retried twice if it fails)\n", res.RequestID)
				return nil
			case 204:
				fmt.Fprintf(w, "dry run: %s exists and may be invoked\n", args[0])
				return nil
			}
			out := string(res.Payload)
			if res.RawPayload != "" {
				out = res.RawPayload
			}
			fmt.Fprintln(w, out)
			if res.FunctionError != "" {
				return fmt.Errorf("the function failed (%s); request %s", res.FunctionError, res.RequestID)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&payload, "payload", "{}", "the event, a JSON document (- reads it from stdin)")
	cmd.Flags().StringVar(&typ, "type", "RequestResponse", "RequestResponse (wait for the answer), Event (run later, retried) or DryRun")
	cmd.Flags().BoolVar(&showLog, "log", false, "print the invocation's log (START, output, END, REPORT) to stderr")
	return cmd
}

func readAllStdin() ([]byte, error) {
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := os.Stdin.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return []byte(b.String()), nil
		}
	}
}
