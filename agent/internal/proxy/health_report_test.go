package proxy

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestTarget_HealthReason(t *testing.T) {
	tg := &target{}
	if ok, why := tg.health(nanotime()); !ok || why != "" {
		t.Fatalf("a fresh target: got %v %q, want healthy", ok, why)
	}
	tg.ejectedUntil.Store(nanotime() + int64(time.Minute))
	tg.ejected(5, errors.New(strings.Repeat("é", 300)+"\xff"))
	ok, why := tg.health(nanotime())
	if ok || !strings.HasPrefix(why, "ejected after 5 consecutive failures: é") || len(why) > maxReasonBytes || !utf8.ValidString(why) {
		t.Errorf("an ejected target: got %v %q (%d bytes), want unhealthy, a valid UTF-8 reason of at most %d bytes", ok, why, len(why), maxReasonBytes)
	}
}

func TestTarget_HealthReportsActiveChecks(t *testing.T) {
	tg := &target{active: &activeHealth{}}
	tg.active.status.Store(activeDown)
	msg := "status 503, want 200-399"
	tg.active.lastErr.Store(&msg)
	if ok, why := tg.health(nanotime()); ok || why != "failing active health checks: "+msg {
		t.Errorf("a target failing its checks: got %v %q, want unhealthy with the check's error", ok, why)
	}
	tg.active.status.Store(activeUp)
	if ok, _ := tg.health(nanotime()); !ok {
		t.Error("a target passing its checks: got unhealthy, want healthy")
	}
}
