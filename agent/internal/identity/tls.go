package identity

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/capin"
)

// Credentials returns the gRPC transport credentials of the config stream: the control plane
// must present a certificate issued by the cluster CA for the address's host, and the agent
// presents its own certificate (its current one: renewals apply to new connections).
func (id *Identity) Credentials() credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified below against the cluster CA, which may change on renewal
		VerifyConnection:   id.verifyServer,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			id.mu.Lock()
			defer id.mu.Unlock()
			return id.cert, nil
		},
	})
}

func (id *Identity) verifyServer(cs tls.ConnectionState) error {
	id.mu.Lock()
	ca := id.ca
	id.mu.Unlock()
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca)
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the control plane offered no certificate")
	}
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: cs.ServerName})
	if err != nil {
		return fmt.Errorf("the control plane's certificate is not from the cluster CA: %w", err)
	}
	return nil
}

// Enroll makes a key, trades joinToken and a request for a certificate at the control plane
// at addr, whose CA must have the pin, and saves the identity in dir. The CA is trusted only
// if it matches the pin, both in the TLS handshake and in the answer.
func Enroll(ctx context.Context, addr, joinToken, pin, node, dir string) (*Identity, error) {
	pin, err := capin.Parse(pin)
	if err != nil {
		return nil, err
	}
	key, csr, err := newRequest(node)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	creds := credentials.NewTLS(&tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified by the pin below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := capin.VerifyChain(raw, pin, host)
			return err
		},
	})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	res, err := edgeplanev1.NewAgentServiceClient(conn).Enroll(ctx, &edgeplanev1.EnrollRequest{
		JoinToken: joinToken, NodeId: node, CsrPem: csr})
	if err != nil {
		return nil, err
	}
	return install(res, key, pin, dir)
}

// install checks an enrollment's answer and saves it.
func install(res *edgeplanev1.EnrollResponse, key *ecdsa.PrivateKey, pin, dir string) (*Identity, error) {
	ca, err := parseCert(res.GetCaPem())
	if err != nil || !capin.Matches(ca, pin) {
		return nil, errors.New("the CA the control plane returned does not match the CA pin")
	}
	cert, err := parseCert(res.GetCertificatePem())
	if err != nil {
		return nil, fmt.Errorf("enrolled certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("enrolled certificate: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil || !bytes.Equal(pub, cert.RawSubjectPublicKeyInfo) {
		return nil, errors.New("the enrolled certificate is not for this agent's key")
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	if err := save(dir, res.GetCertificatePem(), keyPEM, res.GetCaPem()); err != nil {
		return nil, err
	}
	id := &Identity{dir: dir}
	return id, id.set(res.GetCertificatePem(), keyPEM, res.GetCaPem())
}
