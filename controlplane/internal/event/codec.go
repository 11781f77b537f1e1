package event

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// codec visits an event's fields by name; encoder and decoder implement it.
type codec interface {
	str(key string, v *string)
	int(key string, v *int64)
	bool(key string, v *bool)
	time(key string, v *time.Time)
	dur(key string, v *time.Duration)
}

type encoder struct{ attrs []slog.Attr }

func (e *encoder) str(k string, v *string) { e.attrs = append(e.attrs, slog.String(k, *v)) }
func (e *encoder) int(k string, v *int64)  { e.attrs = append(e.attrs, slog.Int64(k, *v)) }
func (e *encoder) bool(k string, v *bool)  { e.attrs = append(e.attrs, slog.Bool(k, *v)) }
func (e *encoder) dur(k string, v *time.Duration) {
	e.attrs = append(e.attrs, slog.String(k, v.String()))
}

// time writes a time in RFC 3339; a zero time is left out.
func (e *encoder) time(k string, v *time.Time) {
	if !v.IsZero() {
		e.attrs = append(e.attrs, slog.String(k, v.UTC().Format(time.RFC3339Nano)))
	}
}

// decoder reads fields from a stream entry; the first field that does not parse is err.
type decoder struct {
	values map[string]any
	err    error
}

// get returns key's value; absent or not a string: "", false.
func (d *decoder) get(k string) (string, bool) {
	s, ok := d.values[k].(string)
	return s, ok && s != ""
}

func (d *decoder) fail(k, s string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s=%q: %v", ErrMalformed, k, s, err)
	}
}

func (d *decoder) str(k string, v *string) { *v, _ = d.get(k) }

func (d *decoder) int(k string, v *int64) {
	if s, ok := d.get(k); ok {
		n, err := strconv.ParseInt(s, 10, 64)
		d.set(k, s, err, func() { *v = n })
	}
}

func (d *decoder) bool(k string, v *bool) {
	if s, ok := d.get(k); ok {
		b, err := strconv.ParseBool(s)
		d.set(k, s, err, func() { *v = b })
	}
}

func (d *decoder) time(k string, v *time.Time) {
	if s, ok := d.get(k); ok {
		t, err := time.Parse(time.RFC3339Nano, s)
		d.set(k, s, err, func() { *v = t })
	}
}

func (d *decoder) dur(k string, v *time.Duration) {
	if s, ok := d.get(k); ok {
		t, err := time.ParseDuration(s)
		d.set(k, s, err, func() { *v = t })
	}
}

func (d *decoder) set(k, s string, err error, apply func()) {
	if err != nil {
		d.fail(k, s, err)
		return
	}
	apply()
}
