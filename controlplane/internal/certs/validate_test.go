package certs_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/certs"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// violation returns the field of the single violation in err, or "" if err is not one.
func violation(err error) (string, string) {
	var verr *model.ValidationError
	if !errors.As(err, &verr) || len(verr.Violations) == 0 {
		return "", ""
	}
	return verr.Violations[0].Field, verr.Violations[0].Description
}

func uploadPair(t *testing.T, hosts ...string) (chain, key []byte) {
	t.Helper()
	c, err := certs.MakeSelfSigned("x", hosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c.GetCertificatePem(), c.GetPrivateKeyPem()
}

func TestManager_CreateRejectsBadRequestsNamingTheField(t *testing.T) {
	srvEnv := newUploadEnv(t, &acmeEnv{})
	chain, key := uploadPair(t, "a.test", "b.test")
	_, otherKey := uploadPair(t, "a.test")
	many := make([]string, certs.MaxDomains+1)
	for i := range many {
		many[i] = "h" + strconv.Itoa(i) + ".test"
	}
	tests := []struct {
		name  string
		cert  *edgeplanev1.Certificate
		field string
		want  string
	}{
		{"bad name", &edgeplanev1.Certificate{Name: "Bad_Name", Domains: []string{"a.test"}}, "certificate.name", "not a valid name"},
		{"reserved name", &edgeplanev1.Certificate{Name: "acme-x", Domains: []string{"a.test"}}, "certificate.name", "kept for routes"},
		{"no domains", &edgeplanev1.Certificate{Name: "x"}, "certificate.domains", "at least one"},
		{"invalid domain", &edgeplanev1.Certificate{Name: "x", Domains: []string{"a..test"}}, "certificate.domains[0]", "host name"},
		{"wildcard with HTTP-01", &edgeplanev1.Certificate{Name: "x", Domains: []string{"a.test", "*.b.test"}}, "certificate.domains[1]", "DNS-01"},
		{"too many names", &edgeplanev1.Certificate{Name: "x", Domains: many}, "certificate.domains", "at most 100"},
		{"bad directory", &edgeplanev1.Certificate{Name: "x", Domains: []string{"a.test"}, AcmeDirectory: "ftp://x"}, "certificate.acme_directory", "not an http(s) URL"},
		{"key without chain", &edgeplanev1.Certificate{Name: "x", PrivateKeyPem: key}, "certificate.certificate_pem", "required"},
		{"chain garbage", &edgeplanev1.Certificate{Name: "x", CertificatePem: []byte("nope"), PrivateKeyPem: key}, "certificate.certificate_pem", "no PEM"},
		{"key does not match", &edgeplanev1.Certificate{Name: "x", CertificatePem: chain, PrivateKeyPem: otherKey}, "certificate.private_key_pem", "does not match"},
		{"domain not in leaf", &edgeplanev1.Certificate{Name: "x", Domains: []string{"a.test", "c.test"}, CertificatePem: chain, PrivateKeyPem: key}, "certificate.domains[1]", "not in the leaf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := srvEnv.Create(t.Context(), tt.cert)
			field, desc := violation(err)
			if field != tt.field || !strings.Contains(desc, tt.want) {
				t.Errorf("got %q: %q (err %v), want %q containing %q", field, desc, err, tt.field, tt.want)
			}
		})
	}
}

func TestManager_UploadIsReadyAndRoutesAreChecked(t *testing.T) {
	e := &acmeEnv{}
	m := newUploadEnv(t, e)
	ctx := t.Context()
	chain, key := uploadPair(t, "a.test", "*.b.test")
	got, rev, err := m.Create(ctx, &edgeplanev1.Certificate{Name: "corp", CertificatePem: chain, PrivateKeyPem: key})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetStatus() != edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_READY || rev == 0 || len(got.GetPrivateKeyPem())+len(got.GetCertificatePem()) > 0 {
		t.Errorf("upload: got status %v rev %d and %d PEM bytes, want READY, committed, no PEM returned",
			got.GetStatus(), rev, len(got.GetPrivateKeyPem())+len(got.GetCertificatePem()))
	}
	if got.GetSource() != edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_UPLOADED || strings.Join(got.GetDomains(), ",") != "a.test,*.b.test" {
		t.Errorf("upload: got source %v domains %v, want UPLOADED with the leaf's names", got.GetSource(), got.GetDomains())
	}
	route := func(cert string, hosts ...string) *edgeplanev1.Route {
		return &edgeplanev1.Route{Name: "r", Hosts: hosts, Tls: &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE, Certificate: cert}}
	}
	tests := []struct {
		name  string
		route *edgeplanev1.Route
		field string
	}{
		{"covered", route("corp", "a.test", "x.b.test"), ""},
		{"unknown certificate", route("nope", "a.test"), "route.tls.certificate"},
		{"host not covered", route("corp", "a.test", "x.y.b.test"), "route.hosts[1]"},
		{"acme wildcard", &edgeplanev1.Route{Name: "r", Hosts: []string{"*.c.test"}, Tls: &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_ACME}}, "route.hosts[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := certs.CheckRoute(ctx, e.st, tt.route)
			if field, _ := violation(err); field != tt.field || (tt.field == "" && err != nil) {
				t.Errorf("got %q (err %v), want %q", field, err, tt.field)
			}
		})
	}
	if _, err := m.Delete(ctx, "corp", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Get(ctx, store.KindCertificate, "corp"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("after delete: got %v, want the certificate gone from the config", err)
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		domains []string
		host    string
		want    bool
	}{
		{[]string{"a.test"}, "a.test", true},
		{[]string{"*.a.test"}, "x.a.test", true},
		{[]string{"*.a.test"}, "y.x.a.test", false},
		{[]string{"*.a.test"}, "a.test", false},
		{[]string{"x.a.test"}, "*.a.test", false},
		{[]string{"*.a.test"}, "*.a.test", true},
	}
	for _, tt := range tests {
		if got := certs.Covers(tt.domains, tt.host); got != tt.want {
			t.Errorf("Covers(%v, %q): got %v, want %v", tt.domains, tt.host, got, tt.want)
		}
	}
}

// newUploadEnv is a Manager on a real redis-server, without a CA.
func newUploadEnv(t *testing.T, e *acmeEnv) *certs.Manager {
	t.Helper()
	*e = *newRedisOnly(t)
	return certs.New(certs.Config{Store: e.st, State: e.state, Directory: "https://ca.invalid/dir"})
}
