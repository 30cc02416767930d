package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/pkg/api/client"
	"github.com/orch-project/orch/pkg/api/wire"
	"github.com/orch-project/orch/pkg/manifest"
	"github.com/orch-project/orch/pkg/model"
	"github.com/spf13/cobra"
)

func applyCmd(g *globals) *cobra.Command {
	var paths []string
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "apply -f PATH [-f PATH ...]",
		Short: "Create or update resources from manifests (files, directories, or - for stdin)",
		Long: "orch apply reads YAML or JSON manifests (many documents per file) and creates or updates\n" +
			"each resource, printing created, configured or unchanged. -f may be repeated (or take a\n" +
			"comma-separated list), as in kubectl: each is a file, a directory (its *.yaml, *.yml and *.json\n" +
			"files in name order) or - for stdin, and documents are applied in the order given. Every\n" +
			"document of every path is validated first: if any is invalid, nothing is applied. A plain ECS\n" +
			"task definition JSON applies unchanged.",
		Example: "  orch apply -f examples/manifests\n" +
			"  orch apply -f queues.yaml -f services.yaml --wait\n" +
			"  cat web.yaml | orch apply -f - -f services/",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(paths) == 0 {
				return fmt.Errorf("-f is required: a manifest file, a directory, or - for stdin (repeat -f for more)")
			}
			docs, err := manifestKinds.LoadAll(paths, os.Stdin)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			req := make([]wire.ApplyDocument, len(docs))
			token := client.NewClientToken()
			for i, d := range docs {
				if svc, ok := d.Object.(*model.Service); ok && svc.ClientToken == "" {
					svc.ClientToken = token + "-" + strconv.Itoa(i)
				}
				spec, err := json.Marshal(d.Object)
				if err != nil {
					return fmt.Errorf("%s:%d: %w", d.File, d.Line, err)
				}
				req[i] = wire.ApplyDocument{Kind: d.Kind, Spec: spec}
			}
			results, err := c.Apply(cmd.Context(), req)
			if err != nil {
				return locate(err, docs)
			}
			out := cmd.OutOrStdout()
			for i, r := range results {
				name := r.Name
				if r.Ref != "" {
					name = r.Ref
				}
				fmt.Fprintf(out, "%s/%s %s\n", strings.ToLower(r.Kind), name, r.Action)
				if i < len(docs) && len(docs[i].Ignored) > 0 {
					fmt.Fprintf(out, "  ignored (accepted, not acted on by Orch): %s\n", strings.Join(docs[i].Ignored, ", "))
				}
			}
			if wait {
				var services []string
				for _, r := range results {
					if r.Kind == "Service" {
						services = append(services, r.Name)
					}
				}
				return waitServices(cmd.Context(), c, services, out, timeout)
			}
			return nil
		},
	}
	// A string slice, as kubectl's -f: repeated flags and comma-separated
	// lists both add paths (a single StringVar kept only the last -f).
	cmd.Flags().StringSliceVarP(&paths, "filename", "f", nil, "manifest file, directory, or - for stdin; repeat -f (or separate with commas) for more, applied in order")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow each applied service until it is steady; exit non-zero with the reason if its deployment fails or rolls back")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "with --wait: give up after this long")
	return cmd
}

// locate rewrites "documents[N]..." in a server error into the document's
// file and line.
func locate(err error, docs []manifest.Document) error {
	msg := err.Error()
	for i := len(docs) - 1; i >= 0; i-- {
		tag := fmt.Sprintf("documents[%d]", i)
		if strings.Contains(msg, tag) {
			msg = strings.ReplaceAll(msg, tag, fmt.Sprintf("%s:%d (%s %s)", docs[i].File, docs[i].Line, docs[i].Kind, docs[i].Name))
		}
	}
	return fmt.Errorf("%s", msg)
}
