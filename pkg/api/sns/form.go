package sns

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/orch-project/orch/pkg/model"
	"github.com/orch-project/orch/pkg/topic"
)

// hasPrefix reports whether any form key starts with prefix.
func hasPrefix(form url.Values, prefix string) bool {
	for k := range form {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// entries reads a query-protocol map: NAME.entry.N.<key>=K, NAME.entry.N.<value>=V.
func entries(form url.Values, name, key, value string) map[string]string {
	var out map[string]string
	for i := 1; ; i++ {
		p := name + ".entry." + strconv.Itoa(i) + "."
		k, ok := form[p+key]
		if !ok {
			return out
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k[0]] = form.Get(p + value)
	}
}

// tags reads NAME.member.N.Key / .Value.
func tags(form url.Values, name string) map[string]string {
	var out map[string]string
	for i := 1; ; i++ {
		p := name + ".member." + strconv.Itoa(i) + "."
		k, ok := form[p+"Key"]
		if !ok {
			return out
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k[0]] = form.Get(p + "Value")
	}
}

// members reads a list NAME.member.N.
func members(form url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[name+".member."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// messageAttributes reads NAME.entry.N.Name / .Value.DataType / .Value.StringValue / .Value.BinaryValue.
func messageAttributes(form url.Values, name string) (map[string]model.MessageAttributeValue, error) {
	var out map[string]model.MessageAttributeValue
	for i := 1; ; i++ {
		p := name + ".entry." + strconv.Itoa(i) + "."
		n, ok := form[p+"Name"]
		if !ok {
			return out, nil
		}
		v := model.MessageAttributeValue{DataType: form.Get(p + "Value.DataType"), StringValue: form.Get(p + "Value.StringValue")}
		if b := form.Get(p + "Value.BinaryValue"); b != "" {
			raw, err := binary(b)
			if err != nil {
				return nil, topic.ErrInvalidValue.With("The message attribute '%s' has a BinaryValue that is not base64: %v", n[0], err)
			}
			v.BinaryValue = raw
		}
		if out == nil {
			out = map[string]model.MessageAttributeValue{}
		}
		out[n[0]] = v
	}
}
