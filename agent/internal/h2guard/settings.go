package h2guard

import (
	"encoding/binary"

	"golang.org/x/net/http2"
)

// maxSettings is the most parameters a SETTINGS frame Conn rewrites may hold: Go's server
// refuses a frame with more.
const maxSettings = 100

// dedupSettings rewrites a whole SETTINGS frame (header and payload) whose payload repeats a
// parameter: cut after the first invalid value, then each parameter kept only at its last
// occurrence. Applying the result gives the state that applying every value in order gives.
// A frame without repeats is returned as it is.
func dedupSettings(f []byte) []byte {
	p := f[9:]
	n := len(p) / 6
	for i := range n {
		s := http2.Setting{ID: http2.SettingID(binary.BigEndian.Uint16(p[i*6:])), Val: binary.BigEndian.Uint32(p[i*6+2:])}
		if s.Valid() != nil {
			n = i + 1
			break
		}
	}
	if !repeats(p[:n*6]) {
		return f
	}
	out := f[:9]
	for i := range n {
		if !seenLater(p[:n*6], i) {
			out = append(out, p[i*6:i*6+6]...) // out never passes p[i*6]: safe in place
		}
	}
	l := len(out) - 9
	out[0], out[1], out[2] = byte(l>>16), byte(l>>8), byte(l)
	return out
}

// repeats reports whether a SETTINGS payload holds a parameter twice.
func repeats(p []byte) bool {
	for i := range len(p) / 6 {
		if seenLater(p, i) {
			return true
		}
	}
	return false
}

// seenLater reports whether parameter i of a SETTINGS payload appears again after it.
func seenLater(p []byte, i int) bool {
	for j := i + 1; j < len(p)/6; j++ {
		if p[i*6] == p[j*6] && p[i*6+1] == p[j*6+1] {
			return true
		}
	}
	return false
}
