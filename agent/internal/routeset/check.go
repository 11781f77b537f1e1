package routeset

import (
	"fmt"
	"net/url"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Check reports whether the agent can serve r: it has a name and hosts, and every target
// URL is absolute http or https with a host. Whether a certificate it names is present is
// checked by Apply on the whole Set. The control plane validates routes fully; Check covers
// only what the agent needs. Errors name the route.
func Check(r *edgeplanev1.Route) error {
	name := r.GetName()
	if name == "" {
		return fmt.Errorf("a route has no name")
	}
	if len(r.GetHosts()) == 0 {
		return fmt.Errorf("route %q: no hosts", name)
	}
	for _, t := range r.GetTargets() {
		if err := checkTarget(t.GetUrl()); err != nil {
			return fmt.Errorf("route %q: %w", name, err)
		}
	}
	return nil
}

func checkTarget(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("target %q is not a URL: %w", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("target %q: scheme must be http or https", raw)
	case u.Host == "":
		return fmt.Errorf("target %q has no host", raw)
	}
	return nil
}

// CheckCertificate reports whether c has a name, domains and PEM data. Whether the PEM
// parses is checked when the proxy loads it.
func CheckCertificate(c *edgeplanev1.TlsCertificate) error {
	switch {
	case c.GetName() == "":
		return fmt.Errorf("a certificate has no name")
	case len(c.GetCertificatePem()) == 0 || len(c.GetPrivateKeyPem()) == 0:
		return fmt.Errorf("certificate %q: missing certificate or private key PEM", c.GetName())
	}
	return nil
}

// CheckChallenge reports whether c has a token and a key authorization.
func CheckChallenge(c *edgeplanev1.AcmeChallenge) error {
	switch {
	case c.GetToken() == "":
		return fmt.Errorf("an ACME challenge has no token")
	case c.GetKeyAuthorization() == "":
		return fmt.Errorf("ACME challenge %q: no key authorization", c.GetToken())
	}
	return nil
}

// CheckService reports whether s has a name and usable target URLs.
func CheckService(s *edgeplanev1.ServiceEndpoints) error {
	if s.GetName() == "" {
		return fmt.Errorf("a service has no name")
	}
	for _, t := range s.GetTargets() {
		if err := checkTarget(t.GetUrl()); err != nil {
			return fmt.Errorf("service %q: %w", s.GetName(), err)
		}
	}
	return nil
}
