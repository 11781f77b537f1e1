package node

import (
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// fakeControlPlane is a minimal AgentService on a real loopback gRPC server: each Connect
// becomes a session the test drives by hand. The real control plane is exercised by the
// end-to-end tests; this one only lets the agent's side of the protocol be tested alone.
type fakeControlPlane struct {
	edgeplanev1.UnimplementedAgentServiceServer
	addr     string
	sessions chan *session
}

// session is one agent stream as seen by the fake control plane.
type session struct {
	hello   *edgeplanev1.Hello
	updates chan *edgeplanev1.ConfigUpdate
	replies chan *edgeplanev1.AgentMessage
	health  chan *edgeplanev1.TargetHealthReport // target health reports, apart from the answers
	closed  chan struct{}                        // closed when the agent ends its side of the stream
	end     chan struct{}                        // closed by the test to end the stream from the control plane
}

func startControlPlane(t *testing.T) *fakeControlPlane {
	t.Helper()
	return startControlPlaneAt(t, "127.0.0.1:0")
}

func startControlPlaneAt(t *testing.T, addr string) *fakeControlPlane {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cp := &fakeControlPlane{addr: ln.Addr().String(), sessions: make(chan *session, 16)}
	srv := grpc.NewServer()
	edgeplanev1.RegisterAgentServiceServer(srv, cp)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return cp
}

func (cp *fakeControlPlane) Connect(st grpc.BidiStreamingServer[edgeplanev1.AgentMessage, edgeplanev1.ControlMessage]) error {
	first, err := st.Recv()
	if err != nil {
		return err
	}
	s := &session{hello: first.GetHello(), updates: make(chan *edgeplanev1.ConfigUpdate),
		replies: make(chan *edgeplanev1.AgentMessage, 16), health: make(chan *edgeplanev1.TargetHealthReport, 64), closed: make(chan struct{}), end: make(chan struct{})}
	cp.sessions <- s
	go func() {
		defer close(s.closed)
		for {
			m, err := st.Recv()
			if err != nil {
				return
			}
			if r := m.GetTargetHealth(); r != nil {
				select {
				case s.health <- r:
				default: // the test does not read them
				}
				continue
			}
			s.replies <- m
		}
	}()
	for {
		select {
		case u := <-s.updates:
			if err := st.Send(&edgeplanev1.ControlMessage{Kind: &edgeplanev1.ControlMessage_Update{Update: u}}); err != nil {
				return err
			}
		case <-s.closed:
			return nil
		case <-s.end:
			return nil
		case <-st.Context().Done():
			return nil
		}
	}
}

// next waits for the next agent stream.
func (cp *fakeControlPlane) next(t *testing.T) *session {
	t.Helper()
	select {
	case s := <-cp.sessions:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no agent connected within 5s")
		return nil
	}
}

// push sends u and returns the agent's answer.
func (s *session) push(t *testing.T, u *edgeplanev1.ConfigUpdate) *edgeplanev1.AgentMessage {
	t.Helper()
	select {
	case s.updates <- u:
	case <-time.After(5 * time.Second):
		t.Fatalf("could not send revision %d", u.GetRevision())
	}
	select {
	case m := <-s.replies:
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("no answer to revision %d", u.GetRevision())
		return nil
	}
}
