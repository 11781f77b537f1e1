// Package e2e runs edgeplane's real binaries against a real redis-server: control-plane
// replicas and agents as separate processes (so "killed" means SIGKILL), driven through the
// public gRPC API and plain HTTP, the way operators use them.
package e2e
