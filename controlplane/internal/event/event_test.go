package event

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fill sets every field of the struct v points to (embedded ones included) to a non-zero
// value derived from its name.
func fill(v reflect.Value) {
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		switch f.Interface().(type) {
		case string:
			f.SetString("v-" + name)
		case int64:
			f.SetInt(int64(len(name)))
		case bool:
			f.SetBool(true)
		case time.Time:
			f.Set(reflect.ValueOf(time.Date(2026, 12, 4, 17, 0, len(name), 5, time.UTC)))
		case time.Duration:
			f.SetInt(int64(1500*time.Millisecond) + int64(len(name)))
		default:
			fill(f)
		}
	}
}

// Every kind comes back from its stream entry equal, every field included: a field its
// visit method forgets to encode or decode fails here.
func TestParse_RoundTripsEveryKind(t *testing.T) {
	types := Types()
	slices.Sort(types)
	if len(types) < 20 {
		t.Fatalf("got %d kinds (%v), want at least 20", len(types), types)
	}
	for _, typ := range types {
		t.Run(typ, func(t *testing.T) {
			want := kinds[typ]()
			fill(reflect.ValueOf(want).Elem())
			h := Header{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Component: "test", Time: "2026-12-04T17:00:00Z"}
			values := map[string]any{}
			entry := Entry(h, want)
			for i := 0; i < len(entry); i += 2 {
				values[entry[i].(string)] = entry[i+1]
			}
			gotH, got, err := Parse(values)
			if err != nil {
				t.Fatal(err)
			}
			h.Type = typ
			if diff := cmp.Diff(h, gotH); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
		})
	}
}

// An entry of no known kind, or with a field that does not parse, is an error; missing
// fields stay zero.
func TestParse_Errors(t *testing.T) {
	if _, _, err := Parse(map[string]any{"event_type": "nope"}); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown type: got %v, want ErrUnknown", err)
	}
	if _, _, err := Parse(map[string]any{"event_type": "route_changed", "revision": "x"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad revision: got %v, want ErrMalformed", err)
	}
	_, e, err := Parse(map[string]any{"event_type": "certificate_expiring", "certificate": "web"})
	if err != nil || !e.(*CertificateExpiring).NotAfter.IsZero() || e.(*CertificateExpiring).Certificate != "web" {
		t.Errorf("missing not_after: got %+v %v, want web with a zero NotAfter", e, err)
	}
}

// A firing alert has no ends_at on the stream.
func TestValues_ZeroTimeIsLeftOut(t *testing.T) {
	v := Values(&AlertFired{Alert{AlertName: "X", StartsAt: time.Unix(1, 0)}})
	if slices.Contains(v, any("ends_at")) || !slices.Contains(v, any("starts_at")) {
		t.Errorf("got %v, want starts_at and no ends_at", v)
	}
}
