package metrics

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/internal/keyspace"
)

// Summary is the traffic of one host and route (or of everything) over a time range.
type Summary struct {
	Host, Route       string
	Requests          int64
	StatusClasses     map[string]int64 // "2xx" -> count
	ErrorRate         float64          // share of 5xx
	P50, P95, P99     time.Duration
	BytesIn, BytesOut int64
	MeanDuration      time.Duration
	hist              map[int]int64
	sumDurationMicros int64
}

// Query sums the windows that overlap [from, to) for host ("" for all hosts), per host and
// route, sorted by host then route.
func (p *Processor) Query(ctx context.Context, stream, host string, from, to time.Time) ([]Summary, error) {
	byKey := map[string]*Summary{}
	for w := from.Truncate(p.cfg.Window); w.Before(to); w = w.Add(p.cfg.Window) {
		members, err := p.cfg.Client.SMembers(ctx, keyspace.MetricsIndex(stream, w.Unix())).Result()
		if err != nil {
			return nil, fmt.Errorf("reading metrics index: %w", err)
		}
		for _, m := range members {
			h, route, _ := strings.Cut(m, "\t")
			if host != "" && h != host {
				continue
			}
			fields, err := p.cfg.Client.HGetAll(ctx, keyspace.MetricsSeries(stream, w.Unix(), m)).Result()
			if err != nil {
				return nil, fmt.Errorf("reading metrics: %w", err)
			}
			s := byKey[m]
			if s == nil {
				s = &Summary{Host: h, Route: route, StatusClasses: map[string]int64{}, hist: map[int]int64{}}
				byKey[m] = s
			}
			s.add(fields)
		}
	}
	out := make([]Summary, 0, len(byKey))
	for _, s := range byKey {
		s.finish()
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Host != out[j].Host {
			return out[i].Host < out[j].Host
		}
		return out[i].Route < out[j].Route
	})
	return out, nil
}

func (s *Summary) add(fields map[string]string) {
	for k, v := range fields {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch {
		case k == "requests":
			s.Requests += n
		case k == "bytes_in":
			s.BytesIn += n
		case k == "bytes_out":
			s.BytesOut += n
		case k == "duration_us":
			s.sumDurationMicros += n
		case strings.HasPrefix(k, "s"):
			s.StatusClasses[k[1:]] += n
		case strings.HasPrefix(k, "b"):
			b, _ := strconv.Atoi(k[1:])
			s.hist[b] += n
		}
	}
}

func (s *Summary) finish() {
	if s.Requests == 0 {
		return
	}
	s.ErrorRate = float64(s.StatusClasses["5xx"]) / float64(s.Requests)
	s.P50, s.P95, s.P99 = percentile(s.hist, 0.50), percentile(s.hist, 0.95), percentile(s.hist, 0.99)
	s.MeanDuration = time.Duration(s.sumDurationMicros/s.Requests) * time.Microsecond
}
