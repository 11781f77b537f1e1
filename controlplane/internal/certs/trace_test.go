package certs_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/certs"
	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

// traced records each event's type with the trace id of its context.
type traced struct {
	mu     sync.Mutex // guards events
	events [][2]string
}

func (r *traced) record(ctx context.Context, e event.Event) {
	tc, _ := tracectx.From(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, [2]string{e.Type(), tc.TraceIDString()})
}

func (r *traced) list() [][2]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][2]string(nil), r.events...)
}

// TestManager_AttemptIsOneTrace: an issuance attempt's certificate_requested and its
// outcome (here certificate_failed: nobody serves the challenge) carry one trace id, and
// the next attempt another.
func TestManager_AttemptIsOneTrace(t *testing.T) {
	e := newACMEEnv(t, envOptions{silent: true})
	client, err := certs.HTTPClient(e.ca.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	rec := &traced{}
	m := certs.New(certs.Config{Store: e.st, State: e.state, Fleet: fleet{e.state}, Directory: e.ca.Directory, HTTPClient: client,
		RetryMin: 300 * time.Millisecond, RetryMax: 2 * time.Second, ScanInterval: 200 * time.Millisecond, Events: rec.record})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if _, _, err := m.Create(t.Context(), &edgeplanev1.Certificate{Name: "dark", Domains: []string{"dark.example.test"}}); err != nil {
		t.Fatal(err)
	}
	waitCert(t, m, "dark", 20*time.Second, func(c *edgeplanev1.Certificate) bool { return c.GetFailureCount() >= 2 })
	var attempts [][2]string // {requested trace, failed trace}
	for _, ev := range rec.list() {
		switch ev[0] {
		case "certificate_requested":
			attempts = append(attempts, [2]string{ev[1], ""})
		case "certificate_failed":
			if n := len(attempts); n > 0 && attempts[n-1][1] == "" {
				attempts[n-1][1] = ev[1]
			}
		}
	}
	if len(attempts) < 2 || attempts[0][1] == "" || attempts[1][1] == "" {
		t.Fatalf("events %v: want two attempts, each requested then failed", rec.list())
	}
	for i, a := range attempts[:2] {
		if a[0] == "" || a[0] != a[1] {
			t.Errorf("attempt %d: requested in trace %q, failed in trace %q; want one trace", i, a[0], a[1])
		}
	}
	if attempts[0][0] == attempts[1][0] {
		t.Errorf("two attempts share trace %q; want one trace each", attempts[0][0])
	}
}
