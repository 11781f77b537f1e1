package certs_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// BenchmarkIssuance measures CreateCertificate to READY for one domain against a real Pebble
// (PEBBLE_VA_NOSLEEP), a real redis-server and a stand-in agent: account reuse, order,
// challenge committed and acked, validation, finalize, fenced commit. It reports p50 and
// p99 in milliseconds.
func BenchmarkIssuance(b *testing.B) {
	e := newACMEEnv(b, envOptions{})
	m := e.manager(b, e.state)
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		name := "bench-" + strconv.Itoa(i)
		start := time.Now()
		if _, _, err := m.Create(b.Context(), &edgeplanev1.Certificate{Name: name, Domains: []string{name + ".example.test"}}); err != nil {
			b.Fatal(err)
		}
		for {
			c, err := m.Get(b.Context(), name)
			if err != nil {
				b.Fatal(err)
			}
			if c.GetStatus() == edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_READY {
				break
			}
			if c.GetStatus() == edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_FAILED {
				b.Fatalf("issuance failed: %s", c.GetLastError())
			}
			time.Sleep(2 * time.Millisecond)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	pct := func(p float64) float64 { return float64(took[int(p*float64(len(took)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
