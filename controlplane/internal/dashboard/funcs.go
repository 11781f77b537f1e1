package dashboard

import (
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/internal/clock"
)

// funcs are the templates' helpers; each formats, none calls out.
var funcs = template.FuncMap{
	"ts":     formatTime,
	"ago":    ago,
	"dur":    formatDuration,
	"pct":    func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"rate":   func(f float64) string { return fmt.Sprintf("%.2f/s", f) },
	"labels": formatLabels,
	"join":   strings.Join,
	"lower":  strings.ToLower,
	"enum":   enumName,
	"tls": func(m fmt.Stringer) string {
		if s := enumName("TLS_MODE_", m); s != "UNSPECIFIED" {
			return s
		}
		return "NONE"
	},
	"navItem": func(current, name, href, label string) navLink {
		return navLink{Href: href, Label: label, Current: current == name}
	},
}

// navLink is one entry of the navigation bar.
type navLink struct {
	Href, Label string
	Current     bool
}

func formatTime(t *timestamppb.Timestamp) string {
	if t == nil || (t.GetSeconds() == 0 && t.GetNanos() == 0) {
		return "—"
	}
	return t.AsTime().UTC().Format("2006-01-02 15:04:05Z")
}

// ago says how long before now t was ("in 3d" for the future).
func ago(t *timestamppb.Timestamp) string {
	if t == nil || t.GetSeconds() == 0 {
		return "—"
	}
	d := clock.Since(t.AsTime())
	if d < 0 {
		return "in " + roughly(-d)
	}
	return roughly(d) + " ago"
}

func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func formatDuration(d *durationpb.Duration) string {
	if d == nil {
		return "—"
	}
	return d.AsDuration().Round(10 * time.Microsecond).String()
}

func formatLabels(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ", ")
}

// enumName turns CERTIFICATE_STATUS_READY into READY, given the prefix to drop.
func enumName(prefix string, v fmt.Stringer) string {
	return strings.TrimPrefix(v.String(), prefix)
}
