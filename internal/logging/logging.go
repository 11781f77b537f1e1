// Package logging builds the slog loggers of both binaries: tint's colourless-when-piped
// text for humans, or JSON lines for machines. Records logged with a context carrying a
// trace (tracectx) get its trace_id attribute.
package logging

import (
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
	// Level is "debug", "info" (default), "warn" or "error".
	Level string
	// Writer receives the log lines. Required.
	Writer io.Writer
}

// New returns a logger for cfg, or an error naming a bad format or level.
func New(cfg Config) (*slog.Logger, error) {
	level, err := ParseLevel(cfg.Level)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(cfg.Format) {
	case "", "text":
		h := tint.NewTextHandler(cfg.Writer, &tint.Options{Level: level, TimeFormat: time.TimeOnly, NoColor: !isTerminal(cfg.Writer)})
		return slog.New(traceHandler{h}), nil
	case "json":
		return slog.New(traceHandler{slog.NewJSONHandler(cfg.Writer, &slog.HandlerOptions{Level: level})}), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", cfg.Format)
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

// isTerminal reports whether w is a character device, where colours help.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
