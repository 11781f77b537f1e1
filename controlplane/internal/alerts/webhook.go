package alerts

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/edgeplane/edgeplane/internal/backoff"
)

// webhook is one destination URL with its queue of encoded notifications. Each webhook has
// its own queue and sender, so a slow or dead one delays no other and never evaluation.
type webhook struct {
	url     string
	queue   chan []byte
	dropped atomic.Uint64
}

// enqueue queues body without blocking; with the queue full it is dropped and logged.
func (h *webhook) enqueue(ctx context.Context, log *slog.Logger, body []byte) {
	select {
	case h.queue <- body:
	default:
		n := h.dropped.Add(1)
		log.WarnContext(ctx, "webhook queue full; notification dropped", "webhook", h.url, "dropped", n)
	}
}

// deliver posts h's queued notifications in order until ctx ends.
func (m *Manager) deliver(ctx context.Context, h *webhook) {
	for {
		select {
		case <-ctx.Done():
			return
		case body := <-h.queue:
			m.post(ctx, h, body)
		}
	}
}

// post sends body, retrying network errors, 429 and 5xx answers with jittered backoff up to
// WebhookAttempts times; then it gives up and logs.
func (m *Manager) post(ctx context.Context, h *webhook, body []byte) {
	b := backoff.New(backoff.Config{Min: m.cfg.WebhookBackoff, Max: 16 * m.cfg.WebhookBackoff})
	var err error
	for attempt := 1; attempt <= m.cfg.WebhookAttempts; attempt++ {
		var retry bool
		if retry, err = m.postOnce(ctx, h.url, body); err == nil {
			return
		}
		if !retry || attempt == m.cfg.WebhookAttempts || b.Wait(ctx) != nil {
			break
		}
	}
	if ctx.Err() == nil {
		m.log.WarnContext(ctx, "webhook notification failed", "webhook", h.url, "err", err)
	}
}

// postOnce posts body once and says whether a failure is worth retrying.
func (m *Manager) postOnce(ctx context.Context, url string, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := m.cfg.HTTPClient.Do(req)
	if err != nil {
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return retry, fmt.Errorf("webhook answered %s", resp.Status)
}
