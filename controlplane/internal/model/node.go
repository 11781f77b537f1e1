package model

import "regexp"

var nodePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

// NodeIDRule says what ValidNodeID accepts, for error messages.
const NodeIDRule = "must be 1-253 letters, digits, '.', '_' or '-', starting with a letter or digit"

// ValidNodeID reports whether s may name an agent node.
func ValidNodeID(s string) bool { return nodePattern.MatchString(s) }
