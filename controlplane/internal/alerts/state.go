package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/clock"
)

// Alert is one alert: a rule firing for one set of labels.
type Alert struct {
	// ID is the alert's identity, shared by replicas: the rule's name and the labels,
	// e.g. `HighErrorRate{host="a.test"}`.
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Severity Severity `json:"severity"`
	// Labels tell this alert from the rule's others (host, node_id, certificate, ...).
	Labels      map[string]string `json:"labels"`
	Summary     string            `json:"summary"`
	Description string            `json:"description"`
	// StartsAt is when the alert started firing; UpdatedAt when its condition was last seen.
	StartsAt  time.Time `json:"starts_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// EndsAt is when it was resolved; zero while it fires.
	EndsAt time.Time `json:"ends_at,omitzero"`
}

// newAlert returns rule r's alert for labels, firing since now.
func newAlert(r Rule, labels map[string]string, now time.Time, summary, description string) Alert {
	return Alert{
		ID: alertID(r.Name, labels), Name: r.Name, Severity: r.Severity, Labels: labels,
		Summary: summary, Description: description, StartsAt: now, UpdatedAt: now,
	}
}

// alertID is name{k="v",...} with the labels sorted.
func alertID(name string, labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(name + "{")
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + strconv.Quote(labels[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// fireScript records an alert as firing and takes its cooldown. KEYS: active, notified,
// cooldown. ARGV: id, alert JSON, cooldown ms. An alert already firing keeps its starts_at.
// It returns {1 if this caller must notify, the stored JSON}.
var fireScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local new = ARGV[2]
if cur then
  local o, n = cjson.decode(cur), cjson.decode(new)
  n.starts_at = o.starts_at
  new = cjson.encode(n)
else
  redis.call('HDEL', KEYS[2], ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], new)
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[3]) then
  redis.call('HSET', KEYS[2], ARGV[1], '1')
  return {1, new}
end
return {0, new}
`)

// resolveScript removes a firing alert. KEYS: active, notified. ARGV: id. It returns false
// when the alert was not firing (another replica resolved it), else {1 if its firing was
// notified, the stored JSON}. The cooldown stays, so an alert that flaps back within it is
// not notified again until the cooldown ends.
var resolveScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
return {redis.call('HDEL', KEYS[2], ARGV[1]), cur}
`)

// fire records a as firing and, if this replica won the cooldown, notifies.
func (m *Manager) fire(ctx context.Context, a Alert) error {
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	res, err := fireScript.Run(ctx, m.cfg.Client, []string{m.cfg.Keys.AlertsActive(), m.cfg.Keys.AlertsNotified(), m.cfg.Keys.AlertCooldown(a.ID)},
		a.ID, data, m.cfg.Cooldown.Milliseconds()).Slice()
	if err != nil {
		return fmt.Errorf("firing %s: %w", a.ID, err)
	}
	if notify, _ := res[0].(int64); notify == 1 {
		stored, _ := res[1].(string)
		if err := json.Unmarshal([]byte(stored), &a); err != nil {
			return fmt.Errorf("decoding alert %s: %w", a.ID, err)
		}
		m.notify(ctx, a, false)
	}
	return nil
}

// resolve ends alert id if it fires and, if this replica ended it and its firing was
// notified, notifies the resolution.
func (m *Manager) resolve(ctx context.Context, id string) error {
	res, err := resolveScript.Run(ctx, m.cfg.Client, []string{m.cfg.Keys.AlertsActive(), m.cfg.Keys.AlertsNotified()}, id).Slice()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("resolving %s: %w", id, err)
	}
	if notified, _ := res[0].(int64); notified == 1 {
		var a Alert
		stored, _ := res[1].(string)
		if err := json.Unmarshal([]byte(stored), &a); err != nil {
			return fmt.Errorf("decoding alert %s: %w", id, err)
		}
		a.EndsAt = clock.Now()
		m.notify(ctx, a, true)
	}
	return nil
}

// active returns the firing alerts by id.
func (m *Manager) active(ctx context.Context) (map[string]Alert, error) {
	all, err := m.cfg.Client.HGetAll(ctx, m.cfg.Keys.AlertsActive()).Result()
	if err != nil {
		return nil, fmt.Errorf("reading active alerts: %w", err)
	}
	out := make(map[string]Alert, len(all))
	for id, data := range all {
		var a Alert
		if err := json.Unmarshal([]byte(data), &a); err != nil {
			return nil, fmt.Errorf("decoding alert %s: %w", id, err)
		}
		out[id] = a
	}
	return out, nil
}
