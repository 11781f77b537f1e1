package alerts

import (
	"context"
	"sort"

	"google.golang.org/protobuf/types/known/timestamppb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Firing returns the firing alerts as the API shows them (TelemetryService.ListAlerts and
// GetAlertSummary), in Active's order.
func (m *Manager) Firing(ctx context.Context) ([]*edgeplanev1.FiringAlert, error) {
	active, err := m.Active(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*edgeplanev1.FiringAlert, len(active))
	for i, a := range active {
		out[i] = &edgeplanev1.FiringAlert{
			Name: a.Name, Severity: string(a.Severity), Labels: a.Labels, Summary: a.Summary,
			StartsAt: timestamppb.New(a.StartsAt),
		}
	}
	return out, nil
}

// Active returns the firing alerts, most severe first, then oldest first.
func (m *Manager) Active(ctx context.Context) ([]Alert, error) {
	byID, err := m.active(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Alert, 0, len(byID))
	for _, a := range byID {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Severity.rank() != b.Severity.rank() {
			return a.Severity.rank() < b.Severity.rank()
		}
		if !a.StartsAt.Equal(b.StartsAt) {
			return a.StartsAt.Before(b.StartsAt)
		}
		return a.ID < b.ID
	})
	return out, nil
}

// Summary counts the firing alerts by severity.
func (m *Manager) Summary(ctx context.Context) (map[Severity]int, error) {
	byID, err := m.active(ctx)
	if err != nil {
		return nil, err
	}
	out := map[Severity]int{}
	for _, a := range byID {
		out[a.Severity]++
	}
	return out, nil
}
