package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Limits and reserved names.
const (
	// MaxDomains caps the names of one certificate (Let's Encrypt allows 100).
	MaxDomains = 100
	// ACMEPrefix starts the names of the certificates obtained for TLS_MODE_ACME routes:
	// "acme-<route>".
	ACMEPrefix = "acme-"
	// maxPEM bounds an uploaded chain or key.
	maxPEM = 64 << 10
)

// CheckRoute reports what keeps r's TLS policy from being served, as a
// *model.ValidationError: a TLS_MODE_CERTIFICATE route naming a certificate that does not
// exist or does not cover its hosts, or a TLS_MODE_ACME route with wildcard hosts (HTTP-01
// cannot validate them). Other errors come from the store. Call it before committing r.
func CheckRoute(ctx context.Context, st *store.Store, r *edgeplanev1.Route) error {
	var vs []model.FieldViolation
	switch r.GetTls().GetMode() {
	case edgeplanev1.TlsMode_TLS_MODE_ACME:
		for i, h := range r.GetHosts() {
			if strings.HasPrefix(h, "*.") {
				vs = append(vs, model.FieldViolation{Field: fmt.Sprintf("route.hosts[%d]", i),
					Description: fmt.Sprintf("%q: TLS_MODE_ACME uses HTTP-01 validation, which cannot cover wildcards; upload a wildcard certificate and use TLS_MODE_CERTIFICATE", h)})
			}
		}
	case edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE:
		name := r.GetTls().GetCertificate()
		it, err := st.Get(ctx, store.KindCertificate, name)
		if errors.Is(err, model.ErrNotFound) {
			return invalid("route.tls.certificate", fmt.Sprintf("certificate %q does not exist (upload it with CertificateService.CreateCertificate)", name))
		}
		if err != nil {
			return err
		}
		domains := it.Value.(*edgeplanev1.TlsCertificate).GetDomains()
		for i, h := range r.GetHosts() {
			if !Covers(domains, h) {
				vs = append(vs, model.FieldViolation{Field: fmt.Sprintf("route.hosts[%d]", i),
					Description: fmt.Sprintf("%q is not covered by certificate %q (domains %s)", h, name, strings.Join(domains, ", "))})
			}
		}
	}
	if len(vs) > 0 {
		return &model.ValidationError{Violations: vs}
	}
	return nil
}

// Covers reports whether a certificate for domains serves host: an exact name, or a
// "*.example.com" domain for a host one label below example.com. A wildcard host is covered
// only by the same wildcard.
func Covers(domains []string, host string) bool {
	if slices.Contains(domains, host) {
		return true
	}
	if strings.HasPrefix(host, "*.") {
		return false
	}
	_, parent, ok := strings.Cut(host, ".")
	return ok && slices.Contains(domains, "*."+parent)
}

// validateSpec checks what a client sets on a new certificate. acme says the certificate is
// to come from an ACME CA (no wildcards).
func validateSpec(c *edgeplanev1.Certificate, acme bool) error {
	var vs []model.FieldViolation
	add := func(field, desc string) { vs = append(vs, model.FieldViolation{Field: field, Description: desc}) }
	if c == nil {
		return invalid("certificate", "is required")
	}
	name := c.GetName()
	if err := model.ValidateName(name); err != nil {
		add("certificate.name", err.Error())
	} else if strings.HasPrefix(name, ACMEPrefix) || strings.HasPrefix(name, SelfSignedPrefix) {
		add("certificate.name", fmt.Sprintf("%q: names starting with %q and %q are kept for routes' certificates", name, ACMEPrefix, SelfSignedPrefix))
	}
	domains := c.GetDomains()
	switch {
	case acme && len(domains) == 0:
		add("certificate.domains", "at least one domain is required")
	case len(domains) > MaxDomains:
		add("certificate.domains", fmt.Sprintf("%d domains; at most %d", len(domains), MaxDomains))
	}
	seen := map[string]bool{}
	for i, d := range domains {
		f := fmt.Sprintf("certificate.domains[%d]", i)
		switch err := model.ValidateHost(d); {
		case err != nil:
			add(f, err.Error())
		case seen[d]:
			add(f, fmt.Sprintf("%q is listed twice", d))
		case acme && strings.HasPrefix(d, "*."):
			add(f, fmt.Sprintf("%q: wildcards need DNS-01 validation; ACME certificates here use HTTP-01", d))
		}
		seen[d] = true
	}
	if p := model.LabelsProblem(c.GetLabels(), model.MaxObjectLabels); p != "" {
		add("certificate.labels", p)
	}
	if dir := c.GetAcmeDirectory(); dir != "" {
		if u, err := url.Parse(dir); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("certificate.acme_directory", fmt.Sprintf("%q is not an http(s) URL", dir))
		}
	}
	if len(vs) > 0 {
		return &model.ValidationError{Violations: vs}
	}
	return nil
}

// upload is a checked, uploaded chain and key.
type upload struct {
	leaf    *x509.Certificate
	domains []string
}

// checkUpload parses an uploaded chain and key: the chain must parse (leaf first), the key
// must match the leaf, and the leaf must cover every listed domain (none listed: the leaf's
// DNS names).
func checkUpload(c *edgeplanev1.Certificate) (*upload, error) {
	chainPEM, keyPEM := c.GetCertificatePem(), c.GetPrivateKeyPem()
	switch {
	case len(chainPEM) == 0:
		return nil, invalid("certificate.certificate_pem", "required with private_key_pem")
	case len(keyPEM) == 0:
		return nil, invalid("certificate.private_key_pem", "required with certificate_pem")
	case len(chainPEM) > maxPEM:
		return nil, invalid("certificate.certificate_pem", fmt.Sprintf("larger than %d bytes", maxPEM))
	case len(keyPEM) > maxPEM:
		return nil, invalid("certificate.private_key_pem", fmt.Sprintf("larger than %d bytes", maxPEM))
	}
	chain, err := parseChain(chainPEM)
	if err != nil {
		return nil, invalid("certificate.certificate_pem", err.Error())
	}
	pair, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		if bytes.Contains(keyPEM, []byte("ENCRYPTED")) {
			return nil, invalid("certificate.private_key_pem", "encrypted keys are not supported; upload it decrypted")
		}
		return nil, invalid("certificate.private_key_pem", "does not match the leaf certificate or does not parse: "+err.Error())
	}
	if pub, ok := pair.PrivateKey.(crypto.Signer); !ok || !publicKeysEqual(pub.Public(), chain[0].PublicKey) {
		return nil, invalid("certificate.private_key_pem", "does not match the leaf certificate")
	}
	u := &upload{leaf: chain[0], domains: c.GetDomains()}
	if len(u.domains) == 0 {
		u.domains = slices.Clone(u.leaf.DNSNames)
	}
	if len(u.domains) == 0 {
		return nil, invalid("certificate.certificate_pem", "the leaf certificate has no DNS names")
	}
	for i, d := range u.domains {
		if !Covers(u.leaf.DNSNames, d) {
			return nil, invalid(fmt.Sprintf("certificate.domains[%d]", i),
				fmt.Sprintf("%q is not in the leaf certificate (DNS names %s)", d, strings.Join(u.leaf.DNSNames, ", ")))
		}
	}
	return u, nil
}

// parseChain decodes every CERTIFICATE block; anything else is an error.
func parseChain(data []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			if len(chain) > 0 && len(bytes.TrimSpace(rest)) > 0 {
				return nil, errors.New("trailing data that is not PEM")
			}
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, want CERTIFICATE (the key goes in private_key_pem)", len(chain), b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse: %v", len(chain), err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return chain, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

func invalid(field, desc string) error {
	return &model.ValidationError{Violations: []model.FieldViolation{{Field: field, Description: desc}}}
}

// ValidateDeclared checks a certificate declared by reference (ConfigService.ApplyConfig):
// an ACME certificate with name, domains, acme_directory and labels, no PEM or key.
// Field paths start with prefix ("certificates[2]"). defaultDirectory is the control
// plane's --acme-directory.
func ValidateDeclared(prefix string, c *edgeplanev1.Certificate, defaultDirectory string) error {
	var vs []model.FieldViolation
	add := func(field, desc string) {
		vs = append(vs, model.FieldViolation{Field: prefix + "." + field, Description: desc})
	}
	var verr *model.ValidationError
	if err := validateSpec(c, true); errors.As(err, &verr) {
		for _, v := range verr.Violations {
			vs = append(vs, model.FieldViolation{Field: prefix + strings.TrimPrefix(v.Field, "certificate"), Description: v.Description})
		}
	}
	if len(c.GetCertificatePem()) > 0 {
		add("certificate_pem", "not accepted here: declare certificates by reference; upload a chain with CertificateService.CreateCertificate")
	}
	if len(c.GetPrivateKeyPem()) > 0 {
		add("private_key_pem", "not accepted here: private keys never go in config files; upload with CertificateService.CreateCertificate")
	}
	if c.GetAcmeDirectory() == "" && defaultDirectory == "" {
		add("acme_directory", "required: the control plane has no --acme-directory")
	}
	if len(vs) > 0 {
		return &model.ValidationError{Violations: vs}
	}
	return nil
}
