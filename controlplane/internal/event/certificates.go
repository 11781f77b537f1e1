package event

import "time"

// Certificates: the ACME manager's issuance and renewal.

// Cert names the certificate an event is about.
type Cert struct {
	Certificate string
	Domains     string // comma-separated
}

func (e *Cert) visit(c codec) {
	c.str("certificate", &e.Certificate)
	c.str("domains", &e.Domains)
}

// CertificateRequested: an order was started (Renewal: for a certificate already READY).
type CertificateRequested struct {
	Cert
	Renewal bool
}

// CertificateReady: a certificate was issued and stored at Revision.
type CertificateReady struct {
	Cert
	Revision  int64
	Serial    string
	NotAfter  time.Time
	RenewTime time.Time
	Took      time.Duration
}

// CertificateFailed: an order failed; it is retried in RetryIn.
type CertificateFailed struct {
	Cert
	Error        string
	FailureCount int64
	RetryIn      time.Duration
}

// CertificateExpiring: a READY certificate is being renewed; it expires at NotAfter.
type CertificateExpiring struct {
	Cert
	NotAfter time.Time
}

func (*CertificateRequested) Type() string { return "certificate_requested" }
func (*CertificateReady) Type() string     { return "certificate_ready" }
func (*CertificateFailed) Type() string    { return "certificate_failed" }
func (*CertificateExpiring) Type() string  { return "certificate_expiring" }

func (e *CertificateRequested) visit(c codec) {
	e.Cert.visit(c)
	c.bool("renewal", &e.Renewal)
}

func (e *CertificateReady) visit(c codec) {
	e.Cert.visit(c)
	c.int("revision", &e.Revision)
	c.str("serial", &e.Serial)
	c.time("not_after", &e.NotAfter)
	c.time("renew_time", &e.RenewTime)
	c.dur("took", &e.Took)
}

func (e *CertificateFailed) visit(c codec) {
	e.Cert.visit(c)
	c.str("error", &e.Error)
	c.int("failure_count", &e.FailureCount)
	c.dur("retry_in", &e.RetryIn)
}

func (e *CertificateExpiring) visit(c codec) {
	e.Cert.visit(c)
	c.time("not_after", &e.NotAfter)
}

var (
	_ = register[CertificateRequested]()
	_ = register[CertificateReady]()
	_ = register[CertificateFailed]()
	_ = register[CertificateExpiring]()
)
