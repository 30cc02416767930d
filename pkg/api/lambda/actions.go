package lambda

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/orch-project/orch/pkg/api/awsproto"
	"github.com/orch-project/orch/pkg/model"
)

func invalid(format string, args ...any) error {
	return &awsproto.Error{Code: "InvalidParameterValueException", Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// apply copies the fields in the request onto f.
func (in *functionInput) apply(f *model.Function) error {
	if in.Code != nil && (len(in.Code.ZipFile) > 0 || in.Code.S3Bucket != "") {
		return invalid("Code: Orch runs container images only: set PackageType Image and Code.ImageUri (a zip or S3 package cannot run)")
	}
	if in.Runtime != "" {
		return invalid("Runtime %q: Orch runs container images only: omit Runtime and Handler and give PackageType Image with Code.ImageUri", in.Runtime)
	}
	if in.PackageType != "" {
		f.PackageType = in.PackageType
	}
	if in.Code != nil {
		f.Code.ImageUri = in.Code.ImageUri
	}
	if in.Role != nil {
		f.Role = *in.Role
	}
	if in.Description != nil {
		f.Description = *in.Description
	}
	if in.MemorySize != nil {
		f.MemorySize = *in.MemorySize
	}
	if in.Timeout != nil {
		f.Timeout = *in.Timeout
	}
	if in.Environment != nil {
		f.Environment = in.Environment
	}
	if in.DeadLetterConfig != nil {
		f.DeadLetterConfig = in.DeadLetterConfig
		if in.DeadLetterConfig.TargetArn == "" {
			f.DeadLetterConfig = nil
		}
	}
	return nil
}

func (h *Handler) createFunction(ctx context.Context, c *call) (answer, error) {
	var in functionInput
	if err := c.decode(&in); err != nil {
		return answer{}, err
	}
	f := model.Function{FunctionName: c.name, Tags: in.Tags}
	if in.PackageType == "" && in.Code != nil && in.Code.ImageUri != "" {
		in.PackageType = "Image"
	}
	if err := in.apply(&f); err != nil {
		return answer{}, err
	}
	sf, err := h.svc.Create(ctx, f)
	if err != nil {
		return answer{}, err
	}
	return answer{http.StatusCreated, configOf(sf)}, nil
}

func (h *Handler) getFunction(ctx context.Context, c *call) (answer, error) {
	sf, err := h.svc.Get(ctx, c.name)
	if err != nil {
		return answer{}, err
	}
	out := getFunctionResponse{Configuration: configOf(sf), Tags: sf.Tags,
		Code: map[string]string{"RepositoryType": "ECR", "ImageUri": sf.Code.ImageUri, "ResolvedImageUri": sf.Code.ImageUri}}
	if sf.ReservedConcurrentExecutions != nil {
		out.Concurrency = &concurrency{ReservedConcurrentExecutions: sf.ReservedConcurrentExecutions}
	}
	return answer{http.StatusOK, out}, nil
}

func (h *Handler) getConfiguration(ctx context.Context, c *call) (answer, error) {
	sf, err := h.svc.Get(ctx, c.name)
	if err != nil {
		return answer{}, err
	}
	return answer{http.StatusOK, configOf(sf)}, nil
}

func (h *Handler) listFunctions(ctx context.Context, c *call) (answer, error) {
	all, err := h.svc.List(ctx)
	if err != nil {
		return answer{}, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].FunctionName < all[j].FunctionName })
	q := c.r.URL.Query()
	max, err := maxItems(q.Get("MaxItems"))
	if err != nil {
		return answer{}, err
	}
	out := struct {
		Functions  []functionConfiguration `json:"Functions"`
		NextMarker string                  `json:"NextMarker,omitempty"`
	}{Functions: []functionConfiguration{}}
	marker := q.Get("Marker")
	for _, f := range all {
		if marker != "" && f.FunctionName <= marker {
			continue
		}
		if len(out.Functions) == max {
			out.NextMarker = out.Functions[len(out.Functions)-1].FunctionName
			break
		}
		out.Functions = append(out.Functions, configOf(f))
	}
	return answer{http.StatusOK, out}, nil
}

func maxItems(s string) (int, error) {
	if s == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 10000 {
		return 0, invalid("MaxItems %q: use a number from 1 to 10000", s)
	}
	return n, nil
}

func (h *Handler) deleteFunction(ctx context.Context, c *call) (answer, error) {
	if err := h.svc.Delete(ctx, c.name); err != nil {
		return answer{}, err
	}
	return answer{status: http.StatusNoContent}, nil
}

func (h *Handler) updateCode(ctx context.Context, c *call) (answer, error) {
	var in codeInput
	if err := c.decode(&in); err != nil {
		return answer{}, err
	}
	if len(in.ZipFile) > 0 || in.S3Bucket != "" {
		return answer{}, invalid("Orch runs container images only: give ImageUri")
	}
	if in.ImageUri == "" {
		return answer{}, invalid("ImageUri is required: the image whose entrypoint starts the Lambda runtime client")
	}
	sf, err := h.svc.Update(ctx, c.name, func(f *model.Function) error { f.Code.ImageUri = in.ImageUri; return nil })
	if err != nil {
		return answer{}, err
	}
	return answer{http.StatusOK, configOf(sf)}, nil
}

func (h *Handler) updateConfiguration(ctx context.Context, c *call) (answer, error) {
	var in functionInput
	if err := c.decode(&in); err != nil {
		return answer{}, err
	}
	if in.Code != nil {
		return answer{}, invalid("Code cannot change here: use UpdateFunctionCode")
	}
	sf, err := h.svc.Update(ctx, c.name, in.apply)
	if err != nil {
		return answer{}, err
	}
	return answer{http.StatusOK, configOf(sf)}, nil
}

func (h *Handler) putConcurrency(ctx context.Context, c *call) (answer, error) {
	var in struct {
		ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions"`
	}
	if err := c.decode(&in); err != nil {
		return answer{}, err
	}
	if in.ReservedConcurrentExecutions == nil {
		return answer{}, invalid("ReservedConcurrentExecutions is required: 0 or more")
	}
	sf, err := h.svc.Update(ctx, c.name, func(f *model.Function) error {
		f.ReservedConcurrentExecutions = in.ReservedConcurrentExecutions
		return nil
	})
	if err != nil {
		return answer{}, err
	}
	return answer{http.StatusOK, concurrency{sf.ReservedConcurrentExecutions}}, nil
}

func (h *Handler) getConcurrency(ctx context.Context, c *call) (answer, error) {
	sf, err := h.svc.Get(ctx, c.name)
	if err != nil {
		return answer{}, err
	}
	return answer{http.StatusOK, concurrency{sf.ReservedConcurrentExecutions}}, nil
}

func (h *Handler) deleteConcurrency(ctx context.Context, c *call) (answer, error) {
	_, err := h.svc.Update(ctx, c.name, func(f *model.Function) error {
		f.ReservedConcurrentExecutions = nil
		return nil
	})
	if err != nil {
		return answer{}, err
	}
	return answer{status: http.StatusNoContent}, nil
}

// ---- event source mappings

func (in *mappingInput) apply(m *model.EventSourceMapping) {
	if in.EventSourceArn != nil {
		m.EventSourceArn = *in.EventSourceArn
	}
	if in.FunctionName != nil {
		m.FunctionName = *in.FunctionName
	}
	if in.BatchSize != nil {
		m.BatchSize = *in.BatchSize
	}
	if in.MaximumBatchingWindowInSeconds != nil {
		m.MaximumBatchingWindowInSeconds = *in.MaximumBatchingWindowInSeconds
	}
	if in.FunctionResponseTypes != nil {
		m.FunctionResponseTypes = *in.FunctionResponseTypes
	}
	if in.ScalingConfig != nil {
		m.ScalingConfig = in.ScalingConfig
	}
	if in.Enabled != nil {
		m.Enabled = in.Enabled
	}
}

func (h *Handler) createMapping(ctx context.Context, c *call) (answer, error) {
	var in mappingInput
	if err := c.decode(&in); err != nil {
		return answer{}, err
	}
	if err := h.authorizeMapping(c, in); err != nil {
		return answer{}, err
	}
	var m model.EventSourceMapping
	in.apply(&m)
	sm, err := h.svc.CreateMapping(ctx, m)
	if err != nil {
		return answer{}, err
	}
	return answer{http.StatusAccepted, mappingOf(sm)}, nil
}

func (h *Handler) getMapping(ctx context.Context, c *call) (answer, error) {
	sm, err := h.svc.GetMapping(ctx, c.r.PathValue("uuid"))
	if err != nil {
		return answer{}, err
	}
	return answer{http.StatusOK, mappingOf(sm)}, nil
}

func (h *Handler) listMappings(ctx context.Context, c *call) (answer, error) {
	q := c.r.URL.Query()
	all, err := h.svc.ListMappings(ctx, q.Get("FunctionName"), q.Get("EventSourceArn"))
	if err != nil {
		return answer{}, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].UUID < all[j].UUID })
	max, err := maxItems(q.Get("MaxItems"))
	if err != nil {
		return answer{}, err
	}
	out := struct {
		EventSourceMappings []mappingConfiguration `json:"EventSourceMappings"`
		NextMarker          string                 `json:"NextMarker,omitempty"`
	}{EventSourceMappings: []mappingConfiguration{}}
	marker := q.Get("Marker")
	for _, m := range all {
		if marker != "" && m.UUID <= marker {
			continue
		}
		if len(out.EventSourceMappings) == max {
			out.NextMarker = out.EventSourceMappings[len(out.EventSourceMappings)-1].UUID
			break
		}
		out.EventSourceMappings = append(out.EventSourceMappings, mappingOf(m))
	}
	return answer{http.StatusOK, out}, nil
}

func (h *Handler) updateMapping(ctx context.Context, c *call) (answer, error) {
	var in mappingInput
	if err := c.decode(&in); err != nil {
		return answer{}, err
	}
	if in.EventSourceArn != nil {
		return answer{}, invalid("EventSourceArn cannot change: delete the mapping and create another")
	}
	if err := h.authorizeMapping(c, in); err != nil {
		return answer{}, err
	}
	sm, err := h.svc.UpdateMapping(ctx, c.r.PathValue("uuid"), in.apply)
	if err != nil {
		return answer{}, err
	}
	return answer{http.StatusAccepted, mappingOf(sm)}, nil
}

func (h *Handler) deleteMapping(ctx context.Context, c *call) (answer, error) {
	sm, err := h.svc.DeleteMapping(ctx, c.r.PathValue("uuid"))
	if err != nil {
		return answer{}, err
	}
	return answer{http.StatusAccepted, mappingOf(sm)}, nil
}

// authorizeMapping checks what a mapping makes the cluster do on the
// caller's behalf, beyond lambda:CreateEventSourceMapping (or Update) on
// "*": take the messages of its queue (sqs:ReceiveMessage and
// sqs:DeleteMessage on it) and invoke its function (lambda:InvokeFunction
// on it). Without it, a role allowed to create mappings could drain any
// queue into any function. The queue's own Policy is not read here.
func (h *Handler) authorizeMapping(c *call, in mappingInput) error {
	type check struct{ action, resource string }
	var checks []check
	if in.EventSourceArn != nil {
		if q := model.QueueNameFromArn(*in.EventSourceArn); q != "" {
			arn := model.QueueArn(model.Region, q)
			checks = append(checks, check{"sqs:ReceiveMessage", arn}, check{"sqs:DeleteMessage", arn})
		}
	}
	if in.FunctionName != nil {
		name, err := functionName("FunctionName", *in.FunctionName)
		if err != nil {
			return err
		}
		checks = append(checks, check{"lambda:InvokeFunction", model.FunctionARN(name)})
	}
	for _, ck := range checks {
		err := awsproto.Authorize(h.authz, c.r, ck.action, ck.resource, nil)
		var denied *awsproto.AccessDenied
		if errors.As(err, &denied) {
			return &awsproto.Error{Code: "AccessDeniedException", Status: http.StatusForbidden, Message: denied.Message}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
