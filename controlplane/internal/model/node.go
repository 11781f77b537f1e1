package model

import (
	"fmt"
	"regexp"
)

var nodePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

// NodeIDRule says what ValidNodeID accepts, for error messages.
const NodeIDRule = "must be 1-253 letters, digits, '.', '_' or '-', starting with a letter or digit"

// ValidNodeID reports whether s may name an agent node.
func ValidNodeID(s string) bool { return nodePattern.MatchString(s) }

// Bounds of one node label.
const (
	MaxLabelKey   = 63
	MaxLabelValue = 253
)

// LabelsProblem says what is wrong with node labels: more than max of them, or a key or
// value out of bounds; "" when nothing is.
func LabelsProblem(labels map[string]string, max int) string {
	if len(labels) > max {
		return fmt.Sprintf("at most %d labels", max)
	}
	for k, v := range labels {
		if k == "" || len(k) > MaxLabelKey || len(v) > MaxLabelValue {
			return fmt.Sprintf("keys must be 1-%d bytes and values at most %d", MaxLabelKey, MaxLabelValue)
		}
	}
	return ""
}

// MaxObjectLabels bounds the labels of a route or a certificate.
const MaxObjectLabels = 32
