package h2guard

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
)

// settingsFrame is a SETTINGS frame with the given parameters, as a client writes it.
func settingsFrame(t *testing.T, s ...http2.Setting) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := http2.NewFramer(&b, nil).WriteSettings(s...); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDedupSettings(t *testing.T) {
	win := func(v uint32) http2.Setting { return http2.Setting{ID: http2.SettingInitialWindowSize, Val: v} }
	push := func(v uint32) http2.Setting { return http2.Setting{ID: http2.SettingEnablePush, Val: v} }
	tests := []struct {
		name    string
		in, out []http2.Setting
	}{
		{"no repeats kept", []http2.Setting{win(1), push(0)}, []http2.Setting{win(1), push(0)}},
		{"last value of a repeat", []http2.Setting{win(100), win(1)}, []http2.Setting{win(1)}},
		{"order of last occurrences", []http2.Setting{win(1), push(0), win(2), push(1)}, []http2.Setting{win(2), push(1)}},
		{"cut after the first invalid", []http2.Setting{win(1), win(1 << 31), win(5), push(0)}, []http2.Setting{win(1 << 31)}},
		{"invalid without repeats kept whole", []http2.Setting{push(2), win(1)}, []http2.Setting{push(2), win(1)}},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dedupSettings(settingsFrame(t, tt.in...))
			if want := settingsFrame(t, tt.out...); !bytes.Equal(got, want) {
				t.Errorf("got % x, want % x", got, want)
			}
		})
	}
}
