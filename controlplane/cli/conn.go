package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/capin"
)

// clients are the API's service clients on one connection.
type clients struct {
	conn    *grpc.ClientConn
	routes  edgeplanev1.RoutingServiceClient
	config  edgeplanev1.ConfigServiceClient
	fleet   edgeplanev1.FleetServiceClient
	certs   edgeplanev1.CertificateServiceClient
	docker  edgeplanev1.DockerServiceClient
	ports   edgeplanev1.PortServiceClient
	tokens  edgeplanev1.TokenServiceClient
	telemet edgeplanev1.TelemetryServiceClient
}

// dial connects to the control plane the settings name. Plaintext only to loopback: with
// --insecure, or by default when no CA is given and the address is loopback (make run).
func (a *app) dial() (*clients, error) {
	c, err := a.flags.resolve()
	if err != nil {
		return nil, err
	}
	creds, err := transport(c)
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20))}
	if c.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: c.Token, tls: creds.Info().SecurityProtocol == "tls"}))
	}
	conn, err := grpc.NewClient(c.Address, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.Address, err)
	}
	return &clients{conn: conn, routes: edgeplanev1.NewRoutingServiceClient(conn), config: edgeplanev1.NewConfigServiceClient(conn),
		fleet: edgeplanev1.NewFleetServiceClient(conn), certs: edgeplanev1.NewCertificateServiceClient(conn),
		docker: edgeplanev1.NewDockerServiceClient(conn), ports: edgeplanev1.NewPortServiceClient(conn),
		tokens: edgeplanev1.NewTokenServiceClient(conn), telemet: edgeplanev1.NewTelemetryServiceClient(conn)}, nil
}

func transport(c contextConf) (credentials.TransportCredentials, error) {
	loopback := isLoopback(c.Address)
	if c.Insecure && !loopback {
		return nil, fmt.Errorf("--insecure is for a control plane on loopback; %s is not: pass --ca-file or --ca-pin", c.Address)
	}
	if c.Insecure || (loopback && c.CAFile == "" && c.CAPin == "") {
		return insecure.NewCredentials(), nil
	}
	host, _, _ := net.SplitHostPort(c.Address)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	switch {
	case c.CAPin != "":
		pin, err := capin.Parse(c.CAPin)
		if err != nil {
			return nil, err
		}
		cfg.InsecureSkipVerify = true // verified against the pin below, hostname included
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := capin.VerifyChain(raw, pin, host)
			return err
		}
	case c.CAFile != "":
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("--ca-file holds no PEM certificate")
		}
	}
	return credentials.NewTLS(cfg), nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bearer sends the token on every call.
type bearer struct {
	token string
	tls   bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false only for plaintext loopback (dev), where the
// control plane accepts no token anyway unless configured to.
func (b bearer) RequireTransportSecurity() bool { return b.tls }

// with dials, runs fn with the clients and closes the connection.
func (a *app) with(fn func(c *clients) error) error {
	c, err := a.dial()
	if err != nil {
		return err
	}
	defer c.conn.Close()
	return fn(c)
}
