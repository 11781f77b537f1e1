// Command pushtls is the route setup of bench/peers/run.sh: it uploads a certificate (chain
// and key in PEM files) and creates or replaces a route that serves its host over HTTP and,
// with that certificate, over HTTPS, then waits until every connected agent serves both:
// the way an operator would put a site with its own certificate behind the agents.
//
//	go run ./bench/peers/pushtls -addr 127.0.0.1:9110 -host bench.test \
//	    -target http://127.0.0.1:9100 -cert cert.pem -key key.pem
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "control plane gRPC address (plaintext)")
	name := flag.String("name", "bench", "route and certificate name")
	host := flag.String("host", "bench.test", "host to route")
	target := flag.String("target", "http://127.0.0.1:9000", "backend URL")
	certFile := flag.String("cert", "", "PEM certificate chain; empty: an HTTP-only route")
	keyFile := flag.String("key", "", "PEM private key of -cert")
	flag.Parse()

	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wait := durationpb.New(10 * time.Second)

	route := &edgeplanev1.Route{Name: *name, Hosts: []string{*host}, Targets: []*edgeplanev1.Target{{Url: *target}}}
	if *certFile != "" {
		chain, err := os.ReadFile(*certFile)
		if err != nil {
			log.Fatal(err)
		}
		key, err := os.ReadFile(*keyFile)
		if err != nil {
			log.Fatal(err)
		}
		certs := edgeplanev1.NewCertificateServiceClient(conn)
		_, err = certs.CreateCertificate(ctx, &edgeplanev1.CreateCertificateRequest{
			Certificate:   &edgeplanev1.Certificate{Name: *name, CertificatePem: chain, PrivateKeyPem: key},
			WaitForAgents: wait,
		})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			log.Fatalf("upload certificate: %v", err)
		}
		route.Tls = &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE, Certificate: *name}
	}

	routes := edgeplanev1.NewRoutingServiceClient(conn)
	var p *edgeplanev1.Propagation
	res, err := routes.CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: route, WaitForAgents: wait})
	switch status.Code(err) {
	case codes.OK:
		p = res.GetPropagation()
	case codes.AlreadyExists:
		up, err := routes.UpdateRoute(ctx, &edgeplanev1.UpdateRouteRequest{Route: route, WaitForAgents: wait})
		if err != nil {
			log.Fatal(err)
		}
		p = up.GetPropagation()
	default:
		log.Fatal(err)
	}
	fmt.Printf("revision %d: %d agents serve route %q, pending %v\n", p.GetRevision(), p.GetAcked(), *name, p.GetPending())
	for _, r := range p.GetRejected() {
		log.Fatalf("agent %s rejected it: %s", r.GetNodeId(), r.GetError())
	}
}
