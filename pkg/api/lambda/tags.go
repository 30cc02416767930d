package lambda

import (
	"context"
	"net/http"
	"unicode/utf8"
)

// Lambda's tag limits.
const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// listTags is ListTags: GET /2017-03-31/tags/{ARN}.
func (h *Handler) listTags(ctx context.Context, c *call) (answer, error) {
	sf, err := h.svc.Get(ctx, c.name)
	if err != nil {
		return answer{}, err
	}
	tags := sf.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return answer{http.StatusOK, struct {
		Tags map[string]string `json:"Tags"`
	}{tags}}, nil
}

// tagResource is TagResource: POST /2017-03-31/tags/{ARN} {"Tags": {...}}.
func (h *Handler) tagResource(ctx context.Context, c *call) (answer, error) {
	var in struct {
		Tags map[string]string `json:"Tags"`
	}
	if err := c.decode(&in); err != nil {
		return answer{}, err
	}
	if len(in.Tags) == 0 {
		return answer{}, invalid("Tags is required: at least one key and value")
	}
	for k, v := range in.Tags {
		if k == "" || utf8.RuneCountInString(k) > maxTagKeyLen {
			return answer{}, invalid("Tags key %q: use 1 to %d characters", k, maxTagKeyLen)
		}
		if utf8.RuneCountInString(v) > maxTagValueLen {
			return answer{}, invalid("Tags.%s: the value has more than %d characters", k, maxTagValueLen)
		}
	}
	_, err := h.svc.Tag(ctx, c.name, func(tags map[string]string) error {
		for k, v := range in.Tags {
			tags[k] = v
		}
		if len(tags) > maxTags {
			return invalid("Tags: the function would have %d tags: at most %d (UntagResource removes some)", len(tags), maxTags)
		}
		return nil
	})
	if err != nil {
		return answer{}, err
	}
	return answer{status: http.StatusNoContent}, nil
}

// untagResource is UntagResource: DELETE /2017-03-31/tags/{ARN}?tagKeys=K&tagKeys=K2.
func (h *Handler) untagResource(ctx context.Context, c *call) (answer, error) {
	keys := c.r.URL.Query()["tagKeys"]
	if len(keys) == 0 {
		return answer{}, invalid("tagKeys is required: the keys of the tags to remove")
	}
	_, err := h.svc.Tag(ctx, c.name, func(tags map[string]string) error {
		for _, k := range keys {
			delete(tags, k)
		}
		return nil
	})
	if err != nil {
		return answer{}, err
	}
	return answer{status: http.StatusNoContent}, nil
}
