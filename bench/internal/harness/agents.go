package harness

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// StreamsPerConn is how many agent streams share one HTTP/2 connection.
const StreamsPerConn = 200

// Fleet is N fake agents speaking only the protocol: Hello, then an Ack for every update, at
// once. It records when each agent received each revision.
type Fleet struct {
	N       int
	conns   []*grpc.ClientConn
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	Tracker *Tracker

	initial  atomic.Int64 // agents that received their first update
	initDone chan struct{}
	failed   atomic.Int64
	updates  atomic.Int64 // updates received by all agents
	routes   atomic.Int64 // routes carried by those updates
	firstErr atomic.Pointer[error]
}

// FleetOptions change how a fleet connects.
type FleetOptions struct {
	// ConnPerAgent gives every agent its own connection, as real agents have.
	ConnPerAgent bool
	// PKI, when set, makes every agent connect with mTLS and its own certificate (and so its
	// own connection).
	PKI *PKI
}

// ConnectFleet opens n agent streams named prefix-i over n/StreamsPerConn+1 connections to
// addr. It returns once every stream sent its Hello; use WaitInitial for the first updates.
func ConnectFleet(ctx context.Context, addr, prefix string, n int) (*Fleet, error) {
	return ConnectFleetWith(ctx, addr, prefix, n, FleetOptions{})
}

// ConnectFleetWith is ConnectFleet with options.
func ConnectFleetWith(ctx context.Context, addr, prefix string, n int, o FleetOptions) (*Fleet, error) {
	ctx, cancel := context.WithCancel(ctx)
	f := &Fleet{N: n, cancel: cancel, Tracker: NewTracker(n), initDone: make(chan struct{})}
	if n == 0 {
		close(f.initDone)
		return f, nil
	}
	nconn := n/StreamsPerConn + 1
	if o.ConnPerAgent || o.PKI != nil {
		nconn = n
	}
	for i := range nconn {
		creds := insecure.NewCredentials()
		if o.PKI != nil {
			cert, err := o.PKI.AgentCert(fmt.Sprintf("%s-%05d", prefix, i))
			if err != nil {
				f.Close()
				return nil, err
			}
			creds = o.PKI.Creds(cert)
		}
		cc, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(creds),
			grpc.WithInitialWindowSize(1<<20), grpc.WithInitialConnWindowSize(16<<20))
		if err != nil {
			f.Close()
			return nil, err
		}
		f.conns = append(f.conns, cc)
	}
	hellos := make(chan error, n)
	sem := make(chan struct{}, 256) // bounds streams being opened at once
	for i := range n {
		cc := f.conns[i%nconn]
		node := fmt.Sprintf("%s-%05d", prefix, i)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			sem <- struct{}{}
			stream, err := edgeplanev1.NewAgentServiceClient(cc).Connect(ctx)
			if err == nil {
				err = stream.Send(&edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Hello{
					Hello: &edgeplanev1.Hello{NodeId: node, Version: "bench", Revision: 0}}})
			}
			<-sem
			hellos <- err
			if err != nil {
				f.fail(err)
				return
			}
			f.run(ctx, stream)
		}()
	}
	for range n {
		if err := <-hellos; err != nil {
			f.Close()
			return nil, fmt.Errorf("opening agent stream: %w", err)
		}
	}
	return f, nil
}

func (f *Fleet) fail(err error) {
	if f.failed.Add(1) == 1 {
		f.firstErr.Store(&err)
	}
}

// run receives updates, records them and acks each one at once.
func (f *Fleet) run(ctx context.Context, stream edgeplanev1.AgentService_ConnectClient) {
	first := true
	for {
		m, err := stream.Recv()
		now := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				f.fail(err)
			}
			return
		}
		u := m.GetUpdate()
		if u == nil {
			continue
		}
		rev := u.GetRevision()
		f.updates.Add(1)
		f.routes.Add(int64(len(u.GetRoutes()) + len(u.GetDeletedRoutes())))
		f.Tracker.Record(rev, now)
		if first {
			first = false
			if f.initial.Add(1) == int64(f.N) {
				close(f.initDone)
			}
		}
		if err := stream.Send(&edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Ack{Ack: &edgeplanev1.Ack{Revision: rev}}}); err != nil {
			if ctx.Err() == nil {
				f.fail(err)
			}
			return
		}
	}
}

// WaitInitial waits until every agent received its first update (snapshot or delta).
func (f *Fleet) WaitInitial(ctx context.Context, timeout time.Duration) error {
	select {
	case <-f.initDone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(timeout):
		return fmt.Errorf("%d of %d agents got their first update within %s (stream errors: %d, first: %v)",
			f.initial.Load(), f.N, timeout, f.failed.Load(), f.FirstErr())
	}
}

// Received returns how many updates the fleet received, and how many routes they carried.
func (f *Fleet) Received() (updates, routes int64) { return f.updates.Load(), f.routes.Load() }

// Failed returns the number of streams that failed, and the first error.
func (f *Fleet) Failed() int64 { return f.failed.Load() }

// FirstErr returns the first stream error, if any.
func (f *Fleet) FirstErr() error {
	if p := f.firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Close ends every stream and connection.
func (f *Fleet) Close() {
	f.cancel()
	for _, cc := range f.conns {
		_ = cc.Close()
	}
	f.wg.Wait()
}

// Tracker records, per revision, when each agent received it.
type Tracker struct {
	n    int
	mu   sync.Mutex
	revs map[int64]*RevStat
}

// RevStat is what the fleet did with one revision.
type RevStat struct {
	Times []time.Time // receive time of each agent that got it
	done  chan struct{}
}

// NewTracker returns a tracker for a fleet of n.
func NewTracker(n int) *Tracker { return &Tracker{n: n, revs: map[int64]*RevStat{}} }

func (t *Tracker) statLocked(rev int64) *RevStat {
	s := t.revs[rev]
	if s == nil {
		s = &RevStat{Times: make([]time.Time, 0, t.n), done: make(chan struct{})}
		t.revs[rev] = s
	}
	return s
}

// Record notes that one agent received rev at time at.
func (t *Tracker) Record(rev int64, at time.Time) {
	t.mu.Lock()
	s := t.statLocked(rev)
	s.Times = append(s.Times, at)
	if len(s.Times) == t.n {
		close(s.done)
	}
	t.mu.Unlock()
}

// ErrTimeout is returned by Wait when not every agent got the revision in time.
var ErrTimeout = errors.New("not every agent received the revision in time")

// Wait blocks until all n agents received rev exactly, and returns the receive times.
func (t *Tracker) Wait(ctx context.Context, rev int64, timeout time.Duration) ([]time.Time, error) {
	t.mu.Lock()
	s := t.statLocked(rev)
	t.mu.Unlock()
	select {
	case <-s.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(timeout):
		t.mu.Lock()
		got := len(s.Times)
		t.mu.Unlock()
		return nil, fmt.Errorf("revision %d: %d of %d agents: %w", rev, got, t.n, ErrTimeout)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]time.Time(nil), s.Times...), nil
}
