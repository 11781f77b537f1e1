// Command pushroute creates or replaces a route with the generated Go client and waits until
// every connected agent serves it: the way a deploy job pushes routing changes.
//
//	go run ./controlplane/examples/pushroute -addr 127.0.0.1:7000 -name hello \
//	    -host hello.localhost -target http://127.0.0.1:9000
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "control plane gRPC address")
	name := flag.String("name", "hello", "route name")
	host := flag.String("host", "hello.localhost", "host to route")
	target := flag.String("target", "http://127.0.0.1:9000", "backend URL")
	flag.Parse()

	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	routes := edgeplanev1.NewRoutingServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	route := &edgeplanev1.Route{
		Name:    *name,
		Hosts:   []string{*host},
		Targets: []*edgeplanev1.Target{{Url: *target}},
	}
	wait := durationpb.New(10 * time.Second)
	var p *edgeplanev1.Propagation
	res, err := routes.CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: route, WaitForAgents: wait})
	switch status.Code(err) {
	case codes.OK:
		p = res.GetPropagation()
	case codes.AlreadyExists: // replace it; an empty update_mask replaces every field
		up, err := routes.UpdateRoute(ctx, &edgeplanev1.UpdateRouteRequest{Route: route, WaitForAgents: wait})
		if err != nil {
			log.Fatal(err)
		}
		p = up.GetPropagation()
	default:
		log.Fatal(err) // InvalidArgument carries a google.rpc.BadRequest naming each bad field
	}
	fmt.Printf("revision %d: %d agents serve it, pending %v\n", p.GetRevision(), p.GetAcked(), p.GetPending())
	for _, r := range p.GetRejected() {
		fmt.Printf("agent %s rejected it and keeps its previous config: %s\n", r.GetNodeId(), r.GetError())
	}
}
