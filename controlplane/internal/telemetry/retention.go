package telemetry

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// StreamLimit bounds one stream, overriding the telemetry-wide retention and cap: records
// older than MaxAge are trimmed with XTRIM MINID, those beyond MaxLen with XTRIM MAXLEN.
// Zero fields keep the telemetry-wide value.
type StreamLimit struct {
	MaxAge time.Duration
	MaxLen int64
}

// Bounds of a per-stream limit.
const (
	MinStreamAge = 10 * time.Second
	MaxStreamAge = 30 * 24 * time.Hour
	MinStreamLen = 1000
	MaxStreamLen = 100_000_000
)

// ParseStreamRetention parses "name=value,..." where name is one of known (the streams'
// names in the default namespace, e.g. logs:request:stream) and value an age (a Go
// duration, "24h", MinStreamAge to MaxStreamAge) or a length (a whole number of records,
// MinStreamLen to MaxStreamLen). A stream may be named twice, once with each kind. The
// result is keyed by name.
func ParseStreamRetention(spec string, known []string) (map[string]StreamLimit, error) {
	out := map[string]StreamLimit{}
	if strings.TrimSpace(spec) == "" {
		return out, nil
	}
	for _, item := range strings.Split(spec, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || name == "" || value == "" {
			return nil, fmt.Errorf("%q: want stream=age or stream=length, e.g. logs:request:stream=24h", item)
		}
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("unknown stream %q: use one of %s", name, strings.Join(known, ", "))
		}
		l := out[name]
		if n, err := strconv.ParseInt(value, 10, 64); err == nil {
			if n < MinStreamLen || n > MaxStreamLen {
				return nil, fmt.Errorf("%s=%s: a length must be from %d to %d records", name, value, MinStreamLen, MaxStreamLen)
			}
			if l.MaxLen != 0 {
				return nil, fmt.Errorf("%s: length given twice", name)
			}
			l.MaxLen = n
		} else {
			d, err := time.ParseDuration(value)
			if err != nil {
				return nil, fmt.Errorf("%s=%s: want an age (24h, 90m) or a number of records (100000)", name, value)
			}
			if d < MinStreamAge || d > MaxStreamAge {
				return nil, fmt.Errorf("%s=%s: an age must be from %s to %s", name, value, MinStreamAge, MaxStreamAge)
			}
			if l.MaxAge != 0 {
				return nil, fmt.Errorf("%s: age given twice", name)
			}
			l.MaxAge = d
		}
		out[name] = l
	}
	return out, nil
}
