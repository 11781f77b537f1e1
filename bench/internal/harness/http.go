package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// WaitOK polls GET http://addr/ with Host: host every poll until it answers 200, ctx ends or
// timeout passes; the error says what answered last.
func WaitOK(ctx context.Context, hc *http.Client, addr, host string, poll, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) && ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
		req.Host = host
		res, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			last = res.Status
		} else {
			last = err.Error()
		}
		time.Sleep(poll)
	}
	return errors.Join(ctx.Err(), fmt.Errorf("no 200 for %s from %s within %s (last: %s)", host, addr, timeout, last))
}
