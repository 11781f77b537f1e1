package main

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// load sends requests as fast as the agent answers, over conns keep-alive connections, and
// keeps the trace id of one response in every 100 with its time.
type load struct {
	ok, failed atomic.Int64

	mu     sync.Mutex // guards traces
	traces []traced   // oldest first
}

type traced struct {
	id string
	at time.Time
}

func (l *load) run(ctx context.Context, addr string, conns int, keep time.Duration) {
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}, Timeout: 10 * time.Second}
			for i := 0; ctx.Err() == nil; i++ {
				code, trace, err := get(c, addr, loadHost)
				if err != nil || code != http.StatusOK {
					l.failed.Add(1)
					continue
				}
				l.ok.Add(1)
				if i%100 == 0 && trace != "" {
					l.keep(trace, keep)
				}
			}
		})
	}
	wg.Wait()
}

func (l *load) keep(id string, keep time.Duration) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.traces = append(l.traces, traced{id, now})
	i := 0
	for i < len(l.traces) && now.Sub(l.traces[i].at) > keep {
		i++
	}
	l.traces = l.traces[i:]
}

// traceNear returns the kept trace closest to at, and whether one is within tolerance.
func (l *load) traceNear(at time.Time, tolerance time.Duration) (traced, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var best traced
	for _, t := range l.traces {
		if best.id == "" || absDur(t.at.Sub(at)) < absDur(best.at.Sub(at)) {
			best = t
		}
	}
	return best, best.id != "" && absDur(best.at.Sub(at)) <= tolerance
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// get sends GET / for host through the proxy at addr; it returns the status and the trace id.
func get(c *http.Client, addr, host string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, res.Header.Get("X-Trace-Id"), nil
}
