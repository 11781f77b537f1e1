package fanout_test

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/fanout"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// A renewal is signed only once half the certificate's lifetime has passed: a stolen agent
// key cannot have the CA mint certificates by reconnecting in a loop.
func TestServe_RenewalOnlyWhenDue(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		issued    time.Duration // before now
		lifetime  time.Duration
		wantRenew bool
	}{
		{"fresh certificate refused", time.Minute, 30 * 24 * time.Hour, false},
		{"just under half refused", 59 * time.Minute, 2 * time.Hour, false},
		{"past two thirds renewed", 2 * time.Hour, 3 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signed := 0
			r := newRig(t, func(c *fanout.Config) {
				c.Renew = func([]byte, string) ([]byte, []byte, error) { signed++; return []byte("cert"), []byte("ca"), nil }
			})
			r1 := r.put(t, "a")
			id := &fanout.Identity{Node: "n1", NotBefore: now.Add(-tt.issued), NotAfter: now.Add(-tt.issued + tt.lifetime)}
			_, _ = rand.Read(id.Fingerprint[:])
			a := r.openAs(t, &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Hello{Hello: &edgeplanev1.Hello{NodeId: "n1"}}}, id)
			want(t, a.next(t), r1, false, 0, "a")
			a.ack(r1)
			a.recv <- &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Renew{Renew: &edgeplanev1.RenewCertificate{CsrPem: []byte("csr")}}}
			if !tt.wantRenew {
				if err := a.ended(t); !errors.Is(err, model.ErrDenied) || signed != 0 {
					t.Fatalf("got %v with %d signed, want ErrDenied and nothing signed", err, signed)
				}
				return
			}
			select {
			case m := <-a.sent:
				if string(m.GetCertificate().GetCertificatePem()) != "cert" {
					t.Fatalf("got %v, want the renewed certificate", m)
				}
			case err := <-a.done:
				t.Fatalf("stream ended: %v, want the renewed certificate", err)
			case <-time.After(wait):
				t.Fatal("no renewed certificate")
			}
		})
	}
}
