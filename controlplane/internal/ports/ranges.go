package ports

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Range is an inclusive range of ports.
type Range struct{ Lo, Hi int }

// Contains says whether p is in r.
func (r Range) Contains(p int) bool { return p >= r.Lo && p <= r.Hi }

// Size is the number of ports in r.
func (r Range) Size() int { return r.Hi - r.Lo + 1 }

func (r Range) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(r.Lo)
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// DefaultRanges are the ranges used when none are configured.
var DefaultRanges = map[string]Range{"service": {20000, 29999}, "tcp": {30000, 30999}}

var purposePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ParseRanges reads "purpose=lo-hi,purpose2=lo-hi" (as in --port-ranges).
func ParseRanges(s string) (map[string]Range, error) {
	out := map[string]Range{}
	for _, part := range splitList(s) {
		purpose, spec, ok := strings.Cut(part, "=")
		if !ok || !purposePattern.MatchString(purpose) {
			return nil, fmt.Errorf("port range %q: want purpose=lo-hi with a purpose of lowercase letters, digits and '-'", part)
		}
		r, err := parseRange(spec)
		if err != nil {
			return nil, fmt.Errorf("port range for %q: %w", purpose, err)
		}
		if _, dup := out[purpose]; dup {
			return nil, fmt.Errorf("port range for %q given twice", purpose)
		}
		out[purpose] = r
	}
	return out, nil
}

// ParseReserved reads "80,443,20000-20099" (as in --reserved-ports).
func ParseReserved(s string) ([]Range, error) {
	var out []Range
	for _, part := range splitList(s) {
		r, err := parseRange(part)
		if err != nil {
			return nil, fmt.Errorf("reserved ports: %w", err)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lo < out[j].Lo })
	return out, nil
}

func parseRange(s string) (Range, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return Range{}, fmt.Errorf("%q is not a port or a range lo-hi within 1-65535", s)
	}
	return Range{a, b}, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Preferred is the port an owner's search starts at: a stable hash (FNV-1a) of the owner
// mapped into r. The same owner gets the same start on every replica and after restarts.
func Preferred(r Range, owner string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(owner))
	return r.Lo + int(h.Sum32()%uint32(r.Size()))
}
