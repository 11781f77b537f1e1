package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Change is one change of a changelog entry. A batch entry (CommitBatch) yields several
// changes with the same revision, consecutive in the slices returned here.
type Change struct {
	Revision int64
	Kind     string
	Name     string
	Delete   bool
	Payload  []byte // the resource as written, for a put
	// At marks the entry's write; Prev is the mark of the changelog entry before it ("" when
	// the writer did not chain it). Every change of a batch entry carries the entry's. See
	// ep_chain.
	At, Prev string
}

// ReadChangelog returns changelog entries with revisions above after, oldest first, at most
// count (0: all). It does not block.
func (s *Store) ReadChangelog(ctx context.Context, after int64, count int64) ([]Change, error) {
	start := "(" + strconv.FormatInt(after, 10) + "-0"
	var msgs []redis.XMessage
	var err error
	if count > 0 {
		msgs, err = s.rdb.XRangeN(ctx, s.keys.changelog, start, "+", count).Result()
	} else {
		msgs, err = s.rdb.XRange(ctx, s.keys.changelog, start, "+").Result()
	}
	if err != nil {
		return nil, mapErr(err, "reading changelog")
	}
	return parseChanges(msgs)
}

// TailChangelog blocks up to block for entries above after and returns them (none on timeout).
// Call it on a client reserved for blocking reads so it never starves writes.
func (s *Store) TailChangelog(ctx context.Context, rdb redis.UniversalClient, after int64, block time.Duration) ([]Change, error) {
	res, err := rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{s.keys.changelog, strconv.FormatInt(after, 10) + "-0"},
		Count:   1000,
		Block:   block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(err, "tailing changelog")
	}
	if len(res) == 0 {
		return nil, nil
	}
	return parseChanges(res[0].Messages)
}

// OldestChange returns the revision of the oldest entry the changelog still holds, 0 if empty.
func (s *Store) OldestChange(ctx context.Context) (int64, error) {
	msgs, err := s.rdb.XRangeN(ctx, s.keys.changelog, "-", "+", 1).Result()
	if err != nil {
		return 0, mapErr(err, "reading changelog")
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	return idRevision(msgs[0].ID)
}

func parseChanges(msgs []redis.XMessage) ([]Change, error) {
	out := make([]Change, 0, len(msgs))
	for _, m := range msgs {
		rev, err := idRevision(m.ID)
		if err != nil {
			return nil, err
		}
		at, _ := m.Values["at"].(string)
		prev, _ := m.Values["prev"].(string)
		if op, _ := m.Values["op"].(string); op == "batch" {
			from := len(out)
			if out, err = appendBatch(out, m, rev); err != nil {
				return nil, err
			}
			for i := from; i < len(out); i++ {
				out[i].At, out[i].Prev = at, prev
			}
			continue
		}
		c, ok := parseChange(m.Values, rev)
		if !ok {
			return nil, fmt.Errorf("changelog entry %s is malformed", m.ID)
		}
		c.At, c.Prev = at, prev
		out = append(out, c)
	}
	return out, nil
}

// appendBatch appends the changes of a batch entry (CommitBatch), all at revision rev. Its
// data holds each change as "<op> <kind> <name> <payload length>\n<payload>".
func appendBatch(out []Change, m redis.XMessage, rev int64) ([]Change, error) {
	data, _ := m.Values["data"].(string)
	if data == "" {
		return nil, fmt.Errorf("changelog entry %s is an empty batch", m.ID)
	}
	for data != "" {
		head, rest, ok := strings.Cut(data, "\n")
		f := strings.Split(head, " ")
		if !ok || len(f) != 4 || (f[0] != "put" && f[0] != "del") || f[1] == "" || f[2] == "" {
			return nil, fmt.Errorf("changelog entry %s: malformed batch change %q", m.ID, head)
		}
		n, err := strconv.Atoi(f[3])
		if err != nil || n < 0 || n > len(rest) {
			return nil, fmt.Errorf("changelog entry %s: batch change %q has a bad length", m.ID, head)
		}
		out = append(out, Change{Revision: rev, Kind: f[1], Name: f[2], Delete: f[0] == "del", Payload: []byte(rest[:n])})
		data = rest[n:]
	}
	return out, nil
}

// parseChange reads the fields op, kind, name and data.
func parseChange(v map[string]any, rev int64) (Change, bool) {
	c := Change{Revision: rev}
	c.Kind, _ = v["kind"].(string)
	c.Name, _ = v["name"].(string)
	op, _ := v["op"].(string)
	c.Delete = op == "del"
	data, _ := v["data"].(string)
	c.Payload = []byte(data)
	return c, c.Kind != "" && c.Name != "" && (op == "put" || op == "del")
}

func idRevision(id string) (int64, error) {
	ms, _, _ := strings.Cut(id, "-")
	rev, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("changelog entry id %q: %w", id, err)
	}
	return rev, nil
}
