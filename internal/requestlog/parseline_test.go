package requestlog

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseLineReference is ParseLine as it was before its fast paths (unescaping every text
// value, strconv.ParseInt for every number): the behaviour ParseLine must keep.
func parseLineReference(line string, r *Record) error {
	var parts [compactValues]string
	n := 0
	for ; n < compactValues-1; n++ {
		i := strings.IndexByte(line, '\t')
		if i < 0 {
			break
		}
		parts[n], line = line[:i], line[i+1:]
	}
	parts[n] = line
	if n != compactValues-1 || strings.IndexByte(line, '\t') >= 0 || parts[0] != Version {
		return fmt.Errorf("%w: compact record: want %d tab-separated values, version %s", ErrMalformed, compactValues, Version)
	}
	p := parts[1:]
	*r = Record{TraceID: p[0], SpanID: p[1], Node: unescape(p[2]), Host: unescape(p[3]), Method: unescape(p[4]),
		Path: unescape(p[5]), Client: unescape(p[10]), Route: unescape(p[11]), Upstream: unescape(p[12])}
	var nums [5]int64
	for k, j := range [5]int{6, 7, 8, 9, 13} {
		v, err := strconv.ParseInt(p[j], 10, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("%w: %s=%q", ErrMalformed, names[j], p[j])
		}
		nums[k] = v
	}
	if nums[0] < 100 || nums[0] > 999 {
		return fmt.Errorf("%w: status %d", ErrMalformed, nums[0])
	}
	r.Status, r.Duration, r.BytesIn, r.BytesOut, r.Revision = int(nums[0]), time.Duration(nums[1])*time.Microsecond, nums[2], nums[3], nums[4]
	if r.Host == "" || r.Method == "" {
		return fmt.Errorf("%w: no host or method", ErrMalformed)
	}
	return nil
}

// ParseLine reads every line as it did before its fast paths: the same record or the same
// error, over lines with and without escapes, numbers with signs, leading zeros, too many
// digits, overflow, letters, and missing or extra values.
func TestParseLine_SameAsTheReferenceParser(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	texts := []string{"", "a.test", `a\tb`, `x\\y`, `\n`, `\`, "GET", "/p?q=1", `tail\`, "edge-1"}
	nums := []string{"0", "200", "503", "99", "1000", "+200", "-0", "-5", "007", "", "12a", "9223372036854775807",
		"9223372036854775808", "123456789012345678", "1234567890123456789", "+", "1_0", " 1"}
	parsed := 0
	for i := range 200000 {
		vals := []string{Version, "0123456789abcdef0123456789abcdef", "0123456789abcdef"}
		for k := 2; k < 14; k++ {
			switch k {
			case 6, 7, 8, 9, 13:
				vals = append(vals, nums[rng.IntN(len(nums))])
			default:
				vals = append(vals, texts[rng.IntN(len(texts))])
			}
		}
		switch i % 50 {
		case 0:
			vals = vals[:len(vals)-1] // a value short
		case 1:
			vals = append(vals, "extra") // one too many
		case 2:
			vals[0] = "2" // another version
		}
		line := strings.Join(vals, "\t")
		var got, want Record
		gotErr, wantErr := ParseLine(line, &got), parseLineReference(line, &want)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || gotErr == nil && got != want {
			t.Fatalf("line %q:\n got %+v, %v\nwant %+v, %v", line, got, gotErr, want, wantErr)
		}
		if gotErr == nil {
			parsed++
		}
	}
	if parsed < 1000 {
		t.Errorf("only %d of the lines parse: the comparison hardly covers records", parsed)
	}
	t.Logf("%d of 200000 lines parse", parsed)
}
