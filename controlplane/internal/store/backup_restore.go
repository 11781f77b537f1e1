package store

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"
)

// RestoreBackup writes a backup made by Backup into this store's namespace, in one
// MULTI/EXEC. The namespace must hold no config (no revision key) unless replace is set,
// which deletes the namespace's keys in the same transaction. Running replicas notice the
// new revision (or that it went backwards) and send agents full snapshots.
func (s *Store) RestoreBackup(ctx context.Context, r io.Reader, replace bool) (rev int64, keys int, err error) {
	hdr, items, err := readBackup(r)
	if err != nil {
		return 0, 0, err
	}
	node, err := s.primaryFor(ctx, s.keys.revision)
	if err != nil {
		return 0, 0, err
	}
	existing, err := scanKeys(ctx, node, s.prefix()+"*")
	if err != nil {
		return 0, 0, mapErr(err, "listing keys")
	}
	if cur, _ := s.Revision(ctx); cur != 0 && !replace {
		return 0, 0, fmt.Errorf("the store already holds a config at revision %d (a replica may have put back the config it held): pass --replace to overwrite it", cur)
	}
	tx := node.TxPipeline()
	for _, k := range existing {
		tx.Del(ctx, k)
	}
	for _, it := range items {
		if err := s.writeKey(ctx, tx, it); err != nil {
			return 0, 0, err
		}
	}
	if _, err := tx.Exec(ctx); err != nil {
		return 0, 0, mapErr(err, "restoring the backup")
	}
	return hdr.Revision, len(items), nil
}

func readBackup(r io.Reader) (backupHeader, []backupKey, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxBackupLine)
	var hdr backupHeader
	if !sc.Scan() {
		return hdr, nil, fmt.Errorf("reading backup: empty input (%v)", sc.Err())
	}
	if err := json.Unmarshal(sc.Bytes(), &hdr); err != nil || hdr.Version != BackupVersion {
		return hdr, nil, fmt.Errorf("reading backup: the first line is not an edgeplane backup header of version %d", BackupVersion)
	}
	var items []backupKey
	for sc.Scan() {
		var k backupKey
		if err := json.Unmarshal(sc.Bytes(), &k); err != nil {
			return hdr, nil, fmt.Errorf("reading backup line %d: %w", len(items)+2, err)
		}
		items = append(items, k)
	}
	if err := sc.Err(); err != nil {
		return hdr, nil, fmt.Errorf("reading backup: %w", err)
	}
	if len(items) != hdr.Keys {
		return hdr, nil, fmt.Errorf("reading backup: %d keys, the header says %d (truncated file?)", len(items), hdr.Keys)
	}
	return hdr, items, nil
}

func (s *Store) writeKey(ctx context.Context, tx redis.Pipeliner, k backupKey) error {
	name := s.prefix() + k.Key
	tx.Del(ctx, name)
	switch k.Type {
	case "string":
		tx.Set(ctx, name, k.String, 0)
	case "hash":
		for f, v := range k.Hash {
			tx.HSet(ctx, name, f, v)
		}
	case "set":
		if len(k.Members) > 0 {
			tx.SAdd(ctx, name, toAny(k.Members)...)
		}
	case "list":
		if len(k.Members) > 0 {
			tx.RPush(ctx, name, toAny(k.Members)...)
		}
	case "zset":
		for m, sc := range k.Scores {
			tx.ZAdd(ctx, name, redis.Z{Score: sc, Member: m})
		}
	case "stream":
		for _, e := range k.Entries {
			tx.XAdd(ctx, &redis.XAddArgs{Stream: name, ID: e.ID, Values: toAny(e.Fields)})
		}
	default:
		return fmt.Errorf("backup key %s has type %q, which restores do not handle", k.Key, k.Type)
	}
	if k.TTLms > 0 {
		tx.PExpire(ctx, name, time.Duration(k.TTLms)*time.Millisecond)
	}
	return nil
}

func toAny(ss [][]byte) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
