package routeset

import (
	"fmt"
	"net/url"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Check reports whether the agent can serve r: it has a name and hosts, every target URL is
// absolute http or https with a host, and the certificate it names is in the config (the
// agent holds no certificates yet, so TLS_MODE_CERTIFICATE always fails). The control plane
// validates routes fully; Check covers only what the agent needs. Errors name the route.
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
	if tls := r.GetTls(); tls.GetMode() == edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE {
		return fmt.Errorf("route %q: certificate %q is not in the config", name, tls.GetCertificate())
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
