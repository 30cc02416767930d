package sqs

import (
	"encoding/base64"
	"sort"
	"strconv"

	"github.com/orch-project/orch/pkg/queue"
)

// paginate pages a sorted list; tokens are base64 of the last name given.
func paginate(names []string, max *int, token string) ([]string, string, error) {
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", queue.ErrInvalidParameterValue.With("Invalid NextToken.")
		}
		i := sort.SearchStrings(names, string(b)+"\x00")
		names = names[i:]
	}
	if max == nil {
		if len(names) > 1000 {
			names = names[:1000]
		}
		return names, "", nil
	}
	if *max < 1 || *max > 1000 {
		return nil, "", badParam("MaxResults", strconv.Itoa(*max), "Must be between 1 and 1000.")
	}
	if len(names) <= *max {
		return names, "", nil
	}
	page := names[:*max]
	return page, base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1])), nil
}
