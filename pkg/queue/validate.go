package queue

import (
	"strconv"
	"strings"

	"github.com/orch-project/orch/pkg/model"
)

func validateSend(e *SendEntry, cfg *model.QueueConfig, batch bool) error {
	if e.Body == "" {
		return ErrMissingParameter.With("The request must contain the parameter MessageBody.")
	}
	size := len(e.Body)
	for k, v := range e.Attributes {
		size += len(k) + len(v.DataType) + len(v.StringValue) + len(v.BinaryValue)
	}
	if size > cfg.MaximumMessageSize {
		return ErrInvalidParameterValue.With("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", cfg.MaximumMessageSize)
	}
	if !model.ValidMessageText(e.Body) {
		return ErrInvalidMessageContents.With("Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
	}
	if e.DelaySeconds != nil {
		d := *e.DelaySeconds
		if d < 0 || d > model.MaxDelaySeconds {
			return ErrInvalidParameterValue.With("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", d)
		}
		if cfg.Fifo && d != 0 {
			return ErrInvalidParameterValue.With("Value %d for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.", d)
		}
	}
	if err := validateMessageAttributes(e.Attributes); err != nil {
		return err
	}
	if e.TraceHeader != "" && !model.ValidMessageText(e.TraceHeader) {
		return ErrInvalidParameterValue.With("AWSTraceHeader contains invalid characters.")
	}
	if cfg.Fifo {
		if e.GroupID == "" {
			return ErrMissingParameter.With("The request must contain the parameter MessageGroupId.")
		}
		if e.DeduplicationID == "" && !cfg.ContentBasedDeduplication {
			return ErrInvalidParameterValue.With("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		}
	}
	if !validFifoID(e.GroupID) {
		return ErrInvalidParameterValue.With("Value %s for parameter MessageGroupId is invalid. Reason: MessageGroupId can contain up to 128 alphanumeric and punctuation characters.", e.GroupID)
	}
	if !validFifoID(e.DeduplicationID) {
		return ErrInvalidParameterValue.With("Value %s for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId can contain up to 128 alphanumeric and punctuation characters.", e.DeduplicationID)
	}
	if !cfg.Fifo && e.DeduplicationID != "" {
		return ErrInvalidParameterValue.With("Value %s for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type.", e.DeduplicationID)
	}
	return nil
}

func validFifoID(v string) bool {
	if len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

func validateMessageAttributes(attrs map[string]model.MessageAttributeValue) error {
	if len(attrs) > model.MaxMessageAttributes {
		return ErrInvalidParameterValue.With("Number of message attributes [%d] exceeds the allowed maximum [10].", len(attrs))
	}
	for n, v := range attrs {
		if !validAttrName(n) {
			return ErrInvalidParameterValue.With("Message (user) attribute name %q is invalid: up to 256 of A-Z a-z 0-9 _ - . (no leading, trailing or double periods, no AWS. or Amazon. prefix).", n)
		}
		base, label, _ := strings.Cut(v.DataType, ".")
		if len(v.DataType) > 256 || (label == "" && strings.Contains(v.DataType, ".")) {
			return ErrInvalidParameterValue.With("The type of message (user) attribute '%s' is invalid.", n)
		}
		switch base {
		case "String", "Number":
			if v.StringValue == "" {
				return ErrInvalidParameterValue.With("Message (user) attribute '%s' must contain a non-empty value of type '%s'.", n, base)
			}
			if !model.ValidMessageText(v.StringValue) {
				return ErrInvalidMessageContents.With("Message (user) attribute '%s' contains invalid characters.", n)
			}
			if base == "Number" {
				if _, err := strconv.ParseFloat(v.StringValue, 64); err != nil || len(v.StringValue) > 40 {
					return ErrInvalidParameterValue.With("Can't cast the value of message (user) attribute '%s' to a number.", n)
				}
			}
		case "Binary":
			if len(v.BinaryValue) == 0 {
				return ErrInvalidParameterValue.With("Message (user) attribute '%s' must contain a non-empty value of type 'Binary'.", n)
			}
		case "":
			return ErrInvalidParameterValue.With("The message attribute '%s' must contain non-empty message attribute type.", n)
		default:
			return ErrInvalidParameterValue.With("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", n)
		}
	}
	return nil
}

func validAttrName(n string) bool {
	if n == "" || len(n) > 256 || n[0] == '.' || n[len(n)-1] == '.' || strings.Contains(n, "..") {
		return false
	}
	l := strings.ToLower(n)
	if strings.HasPrefix(l, "aws.") || strings.HasPrefix(l, "amazon.") {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
