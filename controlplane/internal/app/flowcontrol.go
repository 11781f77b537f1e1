package app

import "google.golang.org/grpc"

// Static HTTP/2 flow-control windows for what clients send the control plane. Setting them
// turns off gRPC's BDP estimation, which otherwise answers nearly every message an agent
// sends (each Ack) with a PING the agent must answer: with 1,000 agents acking one update,
// 1,000 extra frames each way, each one a write and a read (and, with TLS, a record sealed
// and opened) on both ends. Clients send small messages (Acks, admin calls), so static
// windows cost no throughput that matters here; they also bound what one connection may
// have buffered unread (BDP could grow it to 16 MiB).
const (
	streamWindow = 1 << 20 // bytes one stream may send ahead of the server reading them
	connWindow   = 1 << 20 // bytes all streams of one connection may send ahead
)

// flowControlOptions are the gRPC server options for those windows.
func flowControlOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.InitialWindowSize(streamWindow), grpc.InitialConnWindowSize(connWindow)}
}
