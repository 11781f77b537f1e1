package cache

import (
	"context"
	"crypto/cipher"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// RetryEvery is how often Run retries after a failed write, and the longest an appended
// record waits for its fsync.
const RetryEvery = time.Second

// compactSlack is how far past twice its snapshot the log may grow before compaction.
const compactSlack = 1 << 20

// Log writes the config cache of one agent. Append is called on the apply path and costs
// the size of the delta; Run does everything else in the background. Its methods are safe
// for concurrent use.
type Log struct {
	dir     string
	current func() *edgeplanev1.ConfigUpdate // snapshot of the config being served; nil if none
	events  func(error)                      // each write's outcome that changes the state (nil: it works again)

	kick chan struct{}

	mu         sync.Mutex
	aead       cipher.AEAD
	f          *os.File // the log, open for appending; nil until the first snapshot is written
	ok         bool     // f ends with a whole record for revision rev: deltas on rev may be appended
	rev        int64    // revision of the last record in f
	latest     int64    // revision of the last config appended (served)
	size, base int64    // bytes in f; bytes of its snapshot record
	dirty      bool     // appended since the last fsync
	compacting bool
	pending    []pendingRecord // appended while compacting, for the new log
	failing    error           // the last write failed with this; nil once one succeeds
	failures   uint64
}

type pendingRecord struct {
	base, rev int64
	b         []byte
}

// NewLog returns the cache log in dir. current returns the served config as a snapshot
// (nil before any config); compaction writes it. events, if set, is told of the first
// failed write after success (with the error) and of the first success after a failure
// (with nil), from the goroutine that wrote, holding the Log's lock: it must not call the
// Log. The log is written from scratch by its first
// compaction, so a torn tail left by a crash is dropped.
func NewLog(dir string, current func() *edgeplanev1.ConfigUpdate, events func(error)) *Log {
	if events == nil {
		events = func(error) {}
	}
	return &Log{dir: dir, current: current, events: events, kick: make(chan struct{}, 1)}
}

// Append records u, a config the agent serves from now on. A delta on the last recorded
// revision is appended at once (without waiting for fsync); anything else (a snapshot, a
// delta after a failed write) is left to the next compaction, which Append requests. An
// error means u is not on disk yet; it is retried in the background, and the caller goes
// on serving u.
func (l *Log) Append(u *edgeplanev1.ConfigUpdate) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.wake()
	l.latest = u.GetRevision()
	if u.GetSnapshot() {
		l.ok = false // the next compaction writes it
		return nil
	}
	c := configOnly(u)
	if u.GetRevision() == l.rev && u.GetBaseRevision() == l.rev && proto.Size(c) == proto.Size(&edgeplanev1.ConfigUpdate{Revision: l.rev, BaseRevision: l.rev}) {
		return nil // an empty same-revision delta (telemetry settings only): nothing to record
	}
	b, err := l.encodeLocked(c)
	if err != nil {
		return l.failLocked(err)
	}
	if l.compacting {
		l.pending = append(l.pending, pendingRecord{u.GetBaseRevision(), u.GetRevision(), b})
	}
	if l.f == nil || !l.ok || u.GetBaseRevision() != l.rev {
		l.ok = false
		return nil
	}
	n, err := l.f.Write(b)
	l.size += int64(n)
	if err != nil {
		l.ok = false // a torn record may end the file: compaction replaces it
		return l.failLocked(fmt.Errorf("appending revision %d to the config cache: %w", u.GetRevision(), err))
	}
	l.rev, l.dirty = u.GetRevision(), true
	return nil
}

// configOnly returns u without what is not config (telemetry settings and the like).
func configOnly(u *edgeplanev1.ConfigUpdate) *edgeplanev1.ConfigUpdate {
	return &edgeplanev1.ConfigUpdate{Revision: u.GetRevision(), BaseRevision: u.GetBaseRevision(), Snapshot: u.GetSnapshot(),
		Routes: u.GetRoutes(), DeletedRoutes: u.GetDeletedRoutes(),
		Certificates: u.GetCertificates(), DeletedCertificates: u.GetDeletedCertificates(),
		Challenges: u.GetChallenges(), DeletedChallenges: u.GetDeletedChallenges(),
		Services: u.GetServices(), DeletedServices: u.GetDeletedServices()}
}

func (l *Log) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *Log) encodeLocked(u *edgeplanev1.ConfigUpdate) ([]byte, error) {
	if l.aead == nil {
		if err := os.MkdirAll(l.dir, 0o700); err != nil {
			return nil, fmt.Errorf("config cache: %w", err)
		}
		aead, err := sealer(l.dir)
		if err != nil {
			return nil, fmt.Errorf("config cache: %w", err)
		}
		l.aead = aead
	}
	return encodeRecord(l.aead, u)
}

// failLocked records a failed write and returns err.
func (l *Log) failLocked(err error) error {
	l.failures++
	if l.failing == nil {
		l.events(err)
	}
	l.failing = err
	return err
}

// Failures returns how many writes to the cache have failed.
func (l *Log) Failures() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures
}

// Persisted returns the revision the cache holds on disk (written, maybe not yet fsynced)
// and whether it is the one last appended or compacted (false while writes fail).
func (l *Log) Persisted() (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rev, l.f != nil && l.ok && l.rev == l.latest && l.failing == nil
}

// Run fsyncs appended records, compacts the log and retries failed writes until ctx is
// done; then it writes what is still unwritten, once, and returns.
func (l *Log) Run(ctx context.Context) {
	t := time.NewTicker(RetryEvery)
	defer t.Stop()
	defer l.Close()
	for {
		select {
		case <-ctx.Done():
			l.Flush()
			return
		case <-l.kick:
		case <-t.C:
		}
		l.Flush()
	}
}

// Close closes the log file; a later write reopens it by compacting. Run closes it when it
// returns.
func (l *Log) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
		l.ok = false
	}
}

// Flush does now what Run would do next: compact if the log needs it, else fsync what was
// appended. It returns the error of a failed write.
func (l *Log) Flush() error {
	l.mu.Lock()
	need := l.f == nil || !l.ok || l.rev != l.latest || l.size > 2*l.base+compactSlack
	f, dirty := l.f, l.dirty
	l.dirty = false
	l.mu.Unlock()
	if need {
		return l.compact()
	}
	if dirty {
		if err := f.Sync(); err != nil {
			l.mu.Lock()
			l.ok = false
			err = l.failLocked(fmt.Errorf("syncing the config cache: %w", err))
			l.mu.Unlock()
			return err
		}
	}
	return nil
}

// compact writes the served config as a new log (a snapshot record, then the records
// appended meanwhile) and renames it over the old one. Appends go on while it writes.
func (l *Log) compact() error {
	snap := l.current()
	if snap == nil {
		return nil // nothing served yet
	}
	l.mu.Lock()
	rec, err := l.encodeLocked(configOnly(snap))
	if err != nil {
		err = l.failLocked(err)
		l.mu.Unlock()
		return err
	}
	l.compacting, l.pending = true, nil
	l.mu.Unlock()

	f, err := l.writeSnapshot(rec)
	l.mu.Lock()
	defer l.mu.Unlock()
	pending := l.pending
	l.compacting, l.pending = false, nil
	if err != nil {
		return l.failLocked(fmt.Errorf("writing the config cache: %w", err))
	}
	rev, size, ok := snap.GetRevision(), int64(len(rec)), true
	for _, p := range pending {
		if p.rev <= rev {
			continue
		}
		if p.base != rev {
			ok = false // a gap: the next compaction writes the served config
			break
		}
		n, err := f.Write(p.b)
		size += int64(n)
		if err != nil {
			ok = false
			break
		}
		rev = p.rev
	}
	if err := os.Rename(f.Name(), filepath.Join(l.dir, LogName)); err != nil {
		f.Close()
		os.Remove(f.Name())
		return l.failLocked(fmt.Errorf("writing the config cache: %w", err))
	}
	_ = syncDir(l.dir)
	if l.f != nil {
		l.f.Close()
	}
	// A config served after the snapshot was taken and not in pending (appended before the
	// compaction began, while the log could not take it) leaves rev behind latest: the next
	// Flush compacts again.
	l.latest = max(l.latest, rev)
	l.f, l.ok, l.rev, l.size, l.base, l.dirty = f, ok, rev, size, int64(len(rec)), len(pending) > 0
	_ = os.Remove(filepath.Join(l.dir, FileName)) // an older agent's cache, now superseded
	if l.failing != nil && ok {
		l.failing = nil
		l.events(nil)
	}
	return nil
}

// writeSnapshot writes rec to a new temporary log file, fsynced, and returns it open.
func (l *Log) writeSnapshot(rec []byte) (_ *os.File, err error) {
	f, err := os.CreateTemp(l.dir, LogName+".tmp-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(rec); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	return f, nil
}
