package store

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/clock"
)

// BackupVersion is the format of Backup's output: JSON lines, a header, then one line per
// key. It is Redis-version independent (no DUMP payloads).
const BackupVersion = 1

// maxBackupLine bounds one line of a backup being restored (a key with its whole value).
const maxBackupLine = 256 << 20

// backupHeader is a backup's first line.
type backupHeader struct {
	Version   int       `json:"edgeplane_backup"`
	Namespace string    `json:"namespace"`
	Revision  int64     `json:"revision"`
	Keys      int       `json:"keys"`
	Time      time.Time `json:"time"`
}

// backupKey is one key: its name without the namespace prefix, type, TTL and value.
// Values are raw bytes (base64 in JSON: payloads are protobuf): strings; hashes field ->
// value; sets members; lists in order; sorted sets member -> score; streams entries oldest
// first, fields by name.
type backupKey struct {
	Key     string             `json:"key"`
	Type    string             `json:"type"`
	TTLms   int64              `json:"ttl_ms,omitempty"`
	String  []byte             `json:"string,omitempty"`
	Hash    map[string][]byte  `json:"hash,omitempty"`
	Members [][]byte           `json:"members,omitempty"`
	Scores  map[string]float64 `json:"scores,omitempty"`
	Entries []backupEntry      `json:"entries,omitempty"`
}

type backupEntry struct {
	ID     string   `json:"id"`
	Fields [][]byte `json:"fields"` // name, value, name, value, ...
}

// prefix is the namespace's key prefix, "{edgeplane}:".
func (s *Store) prefix() string { return strings.TrimSuffix(s.keys.revision, "revision") }

// Backup writes every key of the namespace to w: config (routes, certificates with their
// private keys still sealed, challenges, services and their endpoints), port leases, admin
// and join tokens (hashes only), the cluster CA (key sealed), agents' records, the
// changelog. Values are read in one MULTI/EXEC, so they are consistent with each other;
// a key created after the scan that lists them is not included. Returns the revision saved.
func (s *Store) Backup(ctx context.Context, w io.Writer) (rev int64, keys int, err error) {
	node, err := s.primaryFor(ctx, s.keys.revision)
	if err != nil {
		return 0, 0, err
	}
	names, err := scanKeys(ctx, node, s.prefix()+"*")
	if err != nil {
		return 0, 0, mapErr(err, "listing keys")
	}
	items, err := readKeys(ctx, node, names)
	if err != nil {
		return 0, 0, mapErr(err, "reading keys")
	}
	p := s.prefix()
	for i := range items {
		items[i].Key = strings.TrimPrefix(items[i].Key, p)
		if items[i].Key == "revision" {
			fmt.Sscan(string(items[i].String), &rev)
		}
	}
	buf := bufio.NewWriter(w)
	enc := json.NewEncoder(buf)
	if err := enc.Encode(backupHeader{Version: BackupVersion, Namespace: strings.Trim(p, "{}:"), Revision: rev,
		Keys: len(items), Time: clock.Now().UTC()}); err != nil {
		return 0, 0, fmt.Errorf("writing backup: %w", err)
	}
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return 0, 0, fmt.Errorf("writing backup: %w", err)
		}
	}
	if err := buf.Flush(); err != nil {
		return 0, 0, fmt.Errorf("writing backup: %w", err)
	}
	return rev, len(items), nil
}

func scanKeys(ctx context.Context, c redis.Cmdable, match string) ([]string, error) {
	var names []string
	var cursor uint64
	for {
		batch, next, err := c.Scan(ctx, cursor, match, 1000).Result()
		if err != nil {
			return nil, err
		}
		names = append(names, batch...)
		if cursor = next; cursor == 0 {
			return names, nil
		}
	}
}
