package telemetry

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// scan walks the stream backwards from q.To (or q.Before) to q.From, checking every record:
// the search of a query without an indexed filter. Records are many to an entry: the entry
// holding Before is read again and its records from Before on skipped.
func (s *SearchIndex) scan(ctx context.Context, stream string, q RequestQuery) (RequestPage, error) {
	end := "(" + strconv.FormatInt(q.To.UnixMilli(), 10)
	if q.Before != "" && idLess(q.Before, strconv.FormatInt(q.To.UnixMilli(), 10)+"-0") {
		if ref, ok := requestlog.ParseRef(q.Before); ok {
			end = ref.Entry()
		}
	}
	start := strconv.FormatInt(q.From.UnixMilli(), 10)
	var page RequestPage
	last := "" // the id of the last record examined
	for page.Examined < MaxExamined {
		msgs, err := s.Client.XRevRangeN(ctx, stream, end, start, 100).Result()
		if err != nil {
			return page, fmt.Errorf("searching %s: %w", stream, err)
		}
		for _, m := range msgs {
			recs := explode(m)
			for i := len(recs) - 1; i >= 0 && page.Examined < MaxExamined; i-- {
				rec := recs[i]
				if q.Before != "" && !idLess(rec.ID, q.Before) {
					continue
				}
				page.Examined++
				last = rec.ID
				if !q.matches(rec.Values) {
					continue
				}
				page.Total++
				if len(page.Entries) < q.Limit {
					page.Entries = append(page.Entries, toEntry(stream, rec))
					page.Next = rec.ID
				}
			}
			if page.Examined >= MaxExamined {
				break
			}
		}
		if len(msgs) == 0 || len(msgs) < 100 && page.Examined < MaxExamined {
			page.Exact = q.Before == ""
			page.LowerBound = !page.Exact
			if len(page.Entries) < q.Limit {
				page.Next = ""
			}
			return page, nil
		}
		end = "(" + msgs[len(msgs)-1].ID
	}
	if len(page.Entries) < q.Limit {
		page.Next = last
	}
	page.LowerBound = true
	return page, nil
}

// byTrace reads the trace's request records through the trace index.
func (s *SearchIndex) byTrace(ctx context.Context, stream string, q RequestQuery, now time.Time) (RequestPage, error) {
	msgs, err := s.Index.lookup(ctx, s.Client, stream, q.TraceID, now, true)
	if err != nil {
		return RequestPage{}, fmt.Errorf("searching %s: %w", stream, err)
	}
	page := RequestPage{Exact: true}
	for i := len(msgs) - 1; i >= 0; i-- {
		e := toEntry(stream, msgs[i])
		page.Examined++
		if !q.matches(msgs[i].Values) || !e.Time.Before(q.To) || e.Time.Before(q.From) {
			continue
		}
		page.Total++
		if (q.Before == "" || idLess(e.ID, q.Before)) && len(page.Entries) < q.Limit {
			page.Entries = append(page.Entries, e)
		} else if len(page.Entries) == q.Limit && page.Next == "" {
			page.Next = page.Entries[len(page.Entries)-1].ID
		}
	}
	return page, nil
}

// matches checks every filter of q on a stream entry's values (time range aside).
func (q *RequestQuery) matches(values map[string]any) bool {
	r, err := requestlog.Parse(values)
	if err != nil {
		return false
	}
	switch {
	case q.Host != "" && r.Host != q.Host,
		q.Route != "" && r.Route != q.Route,
		q.Method != "" && r.Method != q.Method,
		q.ClientIP != "" && ClientIP(r.Client) != q.ClientIP,
		q.Status != 0 && r.Status != q.Status,
		q.StatusClass != 0 && r.Status/100 != q.StatusClass,
		q.PathPrefix != "" && !strings.HasPrefix(r.Path, q.PathPrefix),
		r.Duration < q.MinLatency,
		q.TraceID != "" && r.TraceID != q.TraceID:
		return false
	}
	return true
}

// idLess reports whether stream id a is below b.
func idLess(a, b string) bool {
	am, as, _ := parseID(a)
	bm, bs, _ := parseID(b)
	return am < bm || am == bm && as < bs
}

// ValidID reports whether id is a stream id ("ms-seq").
func ValidID(id string) bool {
	_, _, ok := parseID(id)
	return ok
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
