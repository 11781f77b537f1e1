package api

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// bareAgents serves Connect as Fleet.Connect hands the stream to a session: through
// bareStream. It answers each message with its own wire form, as pre-encoded bytes, and a
// ControlMessage, and reports what it saw of the stream.
type bareAgents struct {
	edgeplanev1.UnimplementedAgentServiceServer
	seen chan string
}

func (b *bareAgents) Connect(stream edgeplanev1.AgentService_ConnectServer) error {
	ss := bareStream(stream)
	switch ss.(type) {
	case *tracedStream, *grpc.GenericServerStream[edgeplanev1.AgentMessage, edgeplanev1.ControlMessage]:
		b.seen <- "wrapped"
	default:
		b.seen <- "bare"
	}
	var in decoder // decodes itself, as a session's inbound does
	if err := ss.RecvMsg(&in); err != nil {
		return err
	}
	var m edgeplanev1.AgentMessage
	if err := proto.Unmarshal(in.got, &m); err != nil {
		return err
	}
	pre, err := proto.Marshal(&edgeplanev1.ControlMessage{Kind: &edgeplanev1.ControlMessage_Update{
		Update: &edgeplanev1.ConfigUpdate{Revision: m.GetAck().GetRevision()}}})
	if err != nil {
		return err
	}
	if err := ss.SendMsg(encoded(pre)); err != nil {
		return err
	}
	return ss.SendMsg(&edgeplanev1.ControlMessage{Kind: &edgeplanev1.ControlMessage_Update{
		Update: &edgeplanev1.ConfigUpdate{Revision: m.GetAck().GetRevision() + 1}}})
}

// A session's stream is the one gRPC made, under the interceptors' and the guard's wrappers,
// and messages pass on it both ways as they do on the wrapped one.
func TestBareStream_UnwrapsAndCarriesMessages(t *testing.T) {
	policy, err := auth.NewPolicy(auth.PolicyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	g := &Guard{Auth: auth.NewAuthenticator(auth.Config{}), Policy: policy, Streams: auth.NewStreamLimiter(4)}
	srv := grpc.NewServer(append(append(Interceptors(nil, nil), g.ServerOptions()...), grpc.ForceServerCodecV2(Codec()))...)
	agents := &bareAgents{seen: make(chan string, 1)}
	edgeplanev1.RegisterAgentServiceServer(srv, agents)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := edgeplanev1.NewAgentServiceClient(conn).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Ack{Ack: &edgeplanev1.Ack{Revision: 41}}}); err != nil {
		t.Fatal(err)
	}
	if got := <-agents.seen; got != "bare" {
		t.Errorf("the session's stream is %s, want the one gRPC made", got)
	}
	for _, want := range []int64{41, 42} {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("receiving revision %d: %v", want, err)
		}
		if got := m.GetUpdate().GetRevision(); got != want {
			t.Errorf("got revision %d, want %d", got, want)
		}
	}
}
