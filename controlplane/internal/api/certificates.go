package api

import (
	"context"

	"github.com/edgeplane/edgeplane/controlplane/internal/certs"
	"github.com/edgeplane/edgeplane/controlplane/internal/fanout"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Certificates implements edgeplanev1.CertificateServiceServer.
type Certificates struct {
	edgeplanev1.UnimplementedCertificateServiceServer
	Certs *certs.Manager
	Fleet *fanout.Fanout
}

var _ edgeplanev1.CertificateServiceServer = (*Certificates)(nil)

// CreateCertificate implements CertificateService.CreateCertificate.
func (h *Certificates) CreateCertificate(ctx context.Context, req *edgeplanev1.CreateCertificateRequest) (*edgeplanev1.CreateCertificateResponse, error) {
	wait, err := waitFor(req.GetWaitForAgents())
	if err != nil {
		return nil, err
	}
	c, rev, err := h.Certs.Create(ctx, req.GetCertificate())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.CreateCertificateResponse{Certificate: c, Propagation: propagate(ctx, h.Fleet, rev, wait)}, nil
}

// GetCertificate implements CertificateService.GetCertificate.
func (h *Certificates) GetCertificate(ctx context.Context, req *edgeplanev1.GetCertificateRequest) (*edgeplanev1.GetCertificateResponse, error) {
	c, err := h.Certs.Get(ctx, req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.GetCertificateResponse{Certificate: c}, nil
}

// ListCertificates implements CertificateService.ListCertificates.
func (h *Certificates) ListCertificates(ctx context.Context, req *edgeplanev1.ListCertificatesRequest) (*edgeplanev1.ListCertificatesResponse, error) {
	cs, next, err := h.Certs.List(ctx, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.ListCertificatesResponse{Certificates: cs, NextPageToken: next}, nil
}

// RenewCertificate implements CertificateService.RenewCertificate.
func (h *Certificates) RenewCertificate(ctx context.Context, req *edgeplanev1.RenewCertificateRequest) (*edgeplanev1.RenewCertificateResponse, error) {
	c, err := h.Certs.Renew(ctx, req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.RenewCertificateResponse{Certificate: c}, nil
}

// DeleteCertificate implements CertificateService.DeleteCertificate.
func (h *Certificates) DeleteCertificate(ctx context.Context, req *edgeplanev1.DeleteCertificateRequest) (*edgeplanev1.DeleteCertificateResponse, error) {
	wait, err := waitFor(req.GetWaitForAgents())
	if err != nil {
		return nil, err
	}
	rev, err := h.Certs.Delete(ctx, req.GetName(), req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.DeleteCertificateResponse{Propagation: propagate(ctx, h.Fleet, rev, wait)}, nil
}
