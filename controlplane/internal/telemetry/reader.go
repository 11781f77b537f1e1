package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// Entry is one stream record.
type Entry struct {
	Stream string
	ID     string
	Time   time.Time
	Fields map[string]string
}

// Group names a consumer group on a stream, for lag reports.
type Group struct{ Stream, Group string }

// Reader answers queries over the telemetry streams. Safe for concurrent use.
type Reader struct {
	// Client runs reads; Blocking runs TailEvents' blocking reads (a pool of its own).
	Client, Blocking redis.UniversalClient
	Streams          Streams
	// Index finds traces (its Retention must be the trimmer's).
	Index Index
	// Groups are the consumer groups GetConsumerLag reports.
	Groups []Group
}

// Trace returns the records of traceID inside the retention window from the logs, events
// and request streams, oldest first: one index lookup per stream (see Index).
func (r *Reader) Trace(ctx context.Context, traceID string) ([]Entry, error) {
	return r.traceIn(ctx, traceID, r.Streams.Indexed())
}

// traceIn is Trace over the given indexed streams only.
func (r *Reader) traceIn(ctx context.Context, traceID string, streams []string) ([]Entry, error) {
	now, err := r.Client.Time(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("reading trace %s: %w", traceID, err)
	}
	var out []Entry
	for _, stream := range streams {
		msgs, err := r.Index.lookup(ctx, r.Client, stream, traceID, now, stream == r.Streams.Requests)
		if err != nil {
			return nil, fmt.Errorf("reading trace %s from %s: %w", traceID, stream, err)
		}
		for _, m := range msgs {
			out = append(out, toEntry(stream, m))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// LogFilter selects log records.
type LogFilter struct {
	TraceID, Component string
	MinLevel           slog.Level
	From, To           time.Time
	Limit              int
}

// maxExamined bounds how many records one QueryLogs reads while filtering a time range.
const maxExamined = 20000

// Logs returns matching log records, newest first. With a trace id it reads the trace's
// index; otherwise it walks the logs stream backwards from To (stream ids are times, so the
// range itself is an index lookup) and stops at Limit matches or maxExamined records.
func (r *Reader) Logs(ctx context.Context, f LogFilter) ([]Entry, error) {
	match := func(e Entry) bool {
		if f.Component != "" && e.Fields["component"] != f.Component {
			return false
		}
		var l slog.Level
		if err := l.UnmarshalText([]byte(e.Fields["level"])); err == nil && l < f.MinLevel {
			return false
		}
		return !e.Time.Before(f.From) && e.Time.Before(f.To)
	}
	var out []Entry
	if f.TraceID != "" {
		all, err := r.traceIn(ctx, f.TraceID, []string{r.Streams.LogsAll})
		if err != nil {
			return nil, err
		}
		for i := len(all) - 1; i >= 0 && len(out) < f.Limit; i-- {
			if match(all[i]) {
				out = append(out, all[i])
			}
		}
		return out, nil
	}
	end := "(" + strconv.FormatInt(f.To.UnixMilli(), 10)
	start := strconv.FormatInt(f.From.UnixMilli(), 10)
	for examined := 0; examined < maxExamined && len(out) < f.Limit; {
		msgs, err := r.Client.XRevRangeN(ctx, r.Streams.LogsAll, end, start, 500).Result()
		if err != nil {
			return nil, fmt.Errorf("reading logs: %w", err)
		}
		for _, m := range msgs {
			if e := toEntry(r.Streams.LogsAll, m); match(e) && len(out) < f.Limit {
				out = append(out, e)
			}
		}
		examined += len(msgs)
		if len(msgs) < 500 {
			break
		}
		end = "(" + msgs[len(msgs)-1].ID
	}
	return out, nil
}

// EventFilter selects events.
type EventFilter struct {
	Types              []string
	Component, TraceID string
	AfterID            string // "" for new events only
}

// TailEvents calls send for each matching event until ctx ends or send fails.
func (r *Reader) TailEvents(ctx context.Context, f EventFilter, send func(Entry) error) error {
	last := f.AfterID
	if last == "" {
		last = "$"
	}
	for ctx.Err() == nil {
		// A caller's deadline ends the tail cleanly: each blocking read ends a little before
		// it (the Redis client honours context deadlines, so a read blocking up to the
		// deadline would fail with an i/o timeout a moment before ctx says it is done).
		block := time.Second
		if d, ok := ctx.Deadline(); ok {
			left := time.Until(d) - tailMargin
			if left <= 0 {
				return nil
			}
			block = min(block, left)
		}
		res, err := r.Blocking.XRead(ctx, &redis.XReadArgs{Streams: []string{r.Streams.Events, last}, Block: block, Count: 100}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil || nearDeadline(ctx) {
				return nil
			}
			return fmt.Errorf("reading events: %w", err)
		}
		for _, m := range res[0].Messages {
			last = m.ID
			e := toEntry(r.Streams.Events, m)
			if f.matches(e) {
				if err := send(e); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// tailMargin is how long before a caller's deadline TailEvents stops blocking.
const tailMargin = 50 * time.Millisecond

// nearDeadline reports whether ctx's deadline is within tailMargin: an error then is the
// deadline's, seen by the socket first.
func nearDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && time.Until(d) < tailMargin
}

func (f EventFilter) matches(e Entry) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Fields["event_type"]) {
		return false
	}
	return (f.Component == "" || e.Fields["component"] == f.Component) && (f.TraceID == "" || e.Fields["trace_id"] == f.TraceID)
}

// ConsumerLag reports each configured group's lag at now; a group that does not exist yet is
// skipped.
func (r *Reader) ConsumerLag(ctx context.Context, now time.Time) (map[Group]streams.Lag, error) {
	out := map[Group]streams.Lag{}
	for _, g := range r.Groups {
		l, err := streams.GroupLag(ctx, r.Client, g.Stream, g.Group, now)
		if err != nil {
			if strings.Contains(err.Error(), "no such key") || strings.Contains(err.Error(), "no group") {
				continue
			}
			return nil, err
		}
		out[g] = l
	}
	return out, nil
}

func toEntry(stream string, m redis.XMessage) Entry {
	if requestlog.IsCompact(m.Values) {
		// An agent's compact request record: shown with the field-per-value names.
		if r, err := requestlog.Parse(m.Values); err == nil {
			return Entry{Stream: stream, ID: m.ID, Time: streams.IDTime(m.ID), Fields: r.Fields()}
		}
	}
	fields := make(map[string]string, len(m.Values))
	for k, v := range m.Values {
		fields[k] = fmt.Sprint(v)
	}
	return Entry{Stream: stream, ID: m.ID, Time: streams.IDTime(m.ID), Fields: fields}
}
