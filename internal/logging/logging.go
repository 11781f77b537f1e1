// Package logging builds the slog loggers of both binaries: tint's colourless-when-piped
// text for humans, or JSON lines for machines. Records logged with a context carrying a
// trace (tracectx) get its trace_id attribute.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/lmittmann/tint"
)

// Config selects a logger's format and level.
type Config struct {
	// Format is "text" (default) or "json".
	Format string
	// Level is "debug", "info" (default), "warn" or "error", optionally followed by levels
	// per component: "info,fanout=debug,grpc=warn".
	Level string
	// Writer receives the log lines. Required.
	Writer io.Writer
}

// New returns a logger for cfg, or an error naming a bad format or level.
func New(cfg Config) (*slog.Logger, error) {
	lv, err := parseLevels(cfg.Level)
	if err != nil {
		return nil, err
	}
	var h slog.Handler
	switch strings.ToLower(cfg.Format) {
	case "", "text":
		h = tint.NewTextHandler(cfg.Writer, &tint.Options{Level: lv.min, TimeFormat: time.TimeOnly, NoColor: !isTerminal(cfg.Writer)})
	case "json":
		h = slog.NewJSONHandler(cfg.Writer, &slog.HandlerOptions{Level: lv.min})
	default:
		return nil, fmt.Errorf("log format %q: use text or json", cfg.Format)
	}
	return slog.New(levelHandler{next: traceHandler{h}, lv: lv, eff: lv.def}), nil
}

// ParseLevel parses debug, info, warn or error ("" is info).
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

// levels is a default level and levels per component.
type levels struct {
	def, min    slog.Level
	byComponent map[string]slog.Level
}

func parseLevels(spec string) (*levels, error) {
	parts := strings.Split(spec, ",")
	def, err := ParseLevel(strings.TrimSpace(parts[0]))
	if err != nil {
		return nil, err
	}
	lv := &levels{def: def, min: def, byComponent: map[string]slog.Level{}}
	for _, p := range parts[1:] {
		comp, level, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || comp == "" {
			return nil, fmt.Errorf("log level %q: want component=level after the default level", p)
		}
		l, err := ParseLevel(level)
		if err != nil {
			return nil, err
		}
		lv.byComponent[comp] = l
		lv.min = min(lv.min, l)
	}
	return lv, nil
}

// levelHandler applies the level of the logger's component (set with With("component", ...)).
type levelHandler struct {
	next slog.Handler
	lv   *levels
	eff  slog.Level
}

func (h levelHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.eff }

func (h levelHandler) Handle(ctx context.Context, r slog.Record) error { return h.next.Handle(ctx, r) }

func (h levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	eff := h.eff
	for _, a := range attrs {
		if a.Key == "component" {
			if l, ok := h.lv.byComponent[a.Value.String()]; ok {
				eff = l
			}
		}
	}
	return levelHandler{next: h.next.WithAttrs(attrs), lv: h.lv, eff: eff}
}

func (h levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{next: h.next.WithGroup(name), lv: h.lv, eff: h.eff}
}

// isTerminal reports whether w is a character device, where colours help.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
