package pki

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
)

// Limits of join tokens.
const (
	DefaultTokenTTL      = 24 * time.Hour
	MinTokenTTL          = time.Minute
	MaxTokenTTL          = 7 * 24 * time.Hour
	MaxTokenUses         = 10000
	MaxTokenLabels       = 32
	DefaultAgentLifetime = 30 * 24 * time.Hour
)

var tokenPart = regexp.MustCompile(`^[a-z0-9]{6,64}$`)

const nodeIDRule = model.NodeIDRule

// ValidNodeID reports whether s may name a node (model.ValidNodeID).
func ValidNodeID(s string) bool { return model.ValidNodeID(s) }

func checkToken(ttl time.Duration, maxUses int, node string, labels map[string]string) error {
	var v []model.FieldViolation
	if ttl < MinTokenTTL || ttl > MaxTokenTTL {
		v = append(v, model.FieldViolation{Field: "ttl", Description: fmt.Sprintf("must be between %s and %s", MinTokenTTL, MaxTokenTTL)})
	}
	if maxUses < 0 || maxUses > MaxTokenUses {
		v = append(v, model.FieldViolation{Field: "max_uses", Description: fmt.Sprintf("must be between 0 (one use) and %d", MaxTokenUses)})
	}
	if node != "" && !ValidNodeID(node) {
		v = append(v, model.FieldViolation{Field: "node_id", Description: nodeIDRule})
	}
	if p := model.LabelsProblem(labels, MaxTokenLabels); p != "" {
		v = append(v, model.FieldViolation{Field: "labels", Description: p})
	}
	if len(v) > 0 {
		return &model.ValidationError{Violations: v}
	}
	return nil
}

func invalid(field, desc string) error {
	return &model.ValidationError{Violations: []model.FieldViolation{{Field: field, Description: desc}}}
}

// randomString returns n random characters of [a-z0-9].
func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		var r [1]byte
		for {
			_, _ = rand.Read(r[:])
			if int(r[0]) < 252 { // 252 = 7*36: no modulo bias
				break
			}
		}
		b[i] = alphabet[int(r[0])%len(alphabet)]
	}
	return string(b)
}
