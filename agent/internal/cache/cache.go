// Package cache keeps the agent's config on disk, so a restarted agent serves at once,
// before (or without) reaching the control plane.
//
// The cache is a log (LogName): a snapshot record (revision, routes, certificates with their
// private keys, ACME challenges, services), then one record per delta applied since, in
// order. Applying a delta appends its record: O(the delta), never a rewrite of the whole
// config. A background goroutine (Log.Run) fsyncs the appends, and rewrites the log as one
// snapshot (compaction) when it has grown past twice its snapshot (plus 1 MiB), when a
// snapshot arrives, and after a failed write. Each record is framed with its length and a
// CRC-32C and sealed with AES-256-GCM under a key kept beside it (seal.go); the files are
// readable by their owner only (0600, in a 0700 directory). A crash mid-append leaves a torn
// tail, which Load ignores: the agent restarts at the last whole record.
//
// Writing the cache never holds up serving: a full disk is logged, counted and retried
// every second while the agent keeps applying and acknowledging configs in memory.
//
// A cache written by an older agent (FileName, one snapshot) is still read.
package cache

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// LogName is the cache log inside the cache directory.
const LogName = "config.log"

// FileName is the single-snapshot cache file older agents wrote; Load reads it when there is
// no log, and the first compaction removes it.
const FileName = "config.binpb"

// headerSize is a record's frame: the length of the sealed body and its CRC-32C.
const headerSize = 8

// maxRecord bounds a record's length, so a corrupt length is not trusted.
const maxRecord = 1 << 30

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Load reads the cached config from dir: the last snapshot and the deltas recorded after it,
// in order, each based on the one before. Reading stops at the first record that is torn
// (a crash mid-write), corrupt, or does not follow on; what came before it is returned. If
// there is no cache the error wraps fs.ErrNotExist.
func Load(dir string) (*edgeplanev1.ConfigUpdate, []*edgeplanev1.ConfigUpdate, error) {
	b, err := os.ReadFile(filepath.Join(dir, LogName))
	if errors.Is(err, fs.ErrNotExist) {
		return loadLegacy(dir)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading config cache: %w", err)
	}
	aead, err := sealer(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading config cache: %w", err)
	}
	var snap *edgeplanev1.ConfigUpdate
	var deltas []*edgeplanev1.ConfigUpdate
	for len(b) > 0 {
		u, n := decodeRecord(aead, b)
		if u == nil {
			break // torn or corrupt: the rest is not trusted
		}
		switch {
		case u.GetSnapshot():
			snap, deltas = u, nil
		case snap == nil:
			return nil, nil, fmt.Errorf("config cache %s does not start with a snapshot", filepath.Join(dir, LogName))
		default:
			last := snap.GetRevision()
			if len(deltas) > 0 {
				last = deltas[len(deltas)-1].GetRevision()
			}
			if u.GetBaseRevision() != last {
				return snap, deltas, nil
			}
			deltas = append(deltas, u)
		}
		b = b[n:]
	}
	if snap == nil {
		return nil, nil, fmt.Errorf("config cache %s holds no whole snapshot", filepath.Join(dir, LogName))
	}
	return snap, deltas, nil
}

func loadLegacy(dir string) (*edgeplanev1.ConfigUpdate, []*edgeplanev1.ConfigUpdate, error) {
	b, err := ReadSealed(dir, FileName)
	if err != nil {
		return nil, nil, fmt.Errorf("reading config cache: %w", err)
	}
	u := &edgeplanev1.ConfigUpdate{}
	if err := proto.Unmarshal(b, u); err != nil {
		return nil, nil, fmt.Errorf("decoding config cache %s: %w", filepath.Join(dir, FileName), err)
	}
	if !u.GetSnapshot() {
		return nil, nil, fmt.Errorf("config cache %s is not a snapshot", filepath.Join(dir, FileName))
	}
	return u, nil, nil
}

// encodeRecord returns u's record: frame, then u sealed.
func encodeRecord(aead cipher.AEAD, u *edgeplanev1.ConfigUpdate) ([]byte, error) {
	plain, err := proto.MarshalOptions{Deterministic: true}.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("encoding config cache record: %w", err)
	}
	out := make([]byte, headerSize, headerSize+len(sealedPrefix)+aead.NonceSize()+len(plain)+aead.Overhead())
	body := sealWith(aead, LogName, out[headerSize:], plain)
	out = out[:headerSize+len(body)]
	binary.LittleEndian.PutUint32(out[0:], uint32(len(body)))
	binary.LittleEndian.PutUint32(out[4:], crc32.Checksum(body, crcTable))
	return out, nil
}

// decodeRecord returns the update in the record at the start of b and the record's length,
// or nil if b does not start with a whole, intact record.
func decodeRecord(aead cipher.AEAD, b []byte) (*edgeplanev1.ConfigUpdate, int) {
	if len(b) < headerSize {
		return nil, 0
	}
	n := binary.LittleEndian.Uint32(b)
	if n > maxRecord || uint64(len(b)-headerSize) < uint64(n) {
		return nil, 0
	}
	body := b[headerSize : headerSize+int(n)]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0
	}
	plain, err := openWith(aead, LogName, body)
	if err != nil {
		return nil, 0
	}
	u := &edgeplanev1.ConfigUpdate{}
	if err := proto.Unmarshal(plain, u); err != nil {
		return nil, 0
	}
	return u, headerSize + int(n)
}

func writeFile(dir, name string, b []byte) (err error) {
	f, err := os.CreateTemp(dir, name+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(b); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Some file systems cannot fsync a directory; that
// is not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return err
	}
	return nil
}
