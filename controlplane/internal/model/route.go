package model

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Limits on a route's fields.
const (
	MaxPriority = 1000
	MaxWeight   = 1000
	MaxHosts    = 100
	MaxTargets  = 100
	MaxTimeout  = time.Hour
	// MaxTargetURLBytes bounds a target URL (agents report their targets by URL).
	MaxTargetURLBytes = 2048
	maxPathBytes      = 1024
)

var (
	namePattern   = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	labelPattern  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	headerPattern = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	knownMethods  = map[string]bool{
		http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
		http.MethodPatch: true, http.MethodDelete: true, http.MethodConnect: true,
		http.MethodOptions: true, http.MethodTrace: true,
	}
)

// ValidateName checks a resource name: lowercase letters, digits and '-', starting with a
// letter, at most 63 characters.
func ValidateName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%q is not a valid name: use 1-63 lowercase letters, digits and '-', starting with a letter", name)
	}
	return nil
}

// ValidateHost checks an RFC 1123 host name, optionally a "*." wildcard of one.
func ValidateHost(host string) error {
	h := strings.TrimPrefix(host, "*.")
	if h == "" || len(h) > 253 {
		return fmt.Errorf("%q is not a host name", host)
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if !labelPattern.MatchString(l) {
			return fmt.Errorf("%q is not an RFC 1123 host name (lowercase labels of letters, digits and '-')", host)
		}
	}
	if host != h && len(labels) < 2 {
		return fmt.Errorf("wildcard %q must cover a domain of at least two labels", host)
	}
	return nil
}

// ValidateRoute checks every field of r that a client may set. The field paths in the
// returned *ValidationError start with prefix (such as "route").
func ValidateRoute(prefix string, r *edgeplanev1.Route) error {
	var vs violations
	if r == nil {
		vs.add(prefix, "is required")
		return vs.err()
	}
	f := func(name string) string { return prefix + "." + name }
	if err := ValidateName(r.GetName()); err != nil {
		vs.add(f("name"), err.Error())
	}
	validateHosts(&vs, f("hosts"), r.GetHosts())
	validatePath(&vs, f("path_prefix"), r.GetPathPrefix())
	validateMethods(&vs, f("methods"), r.GetMethods())
	if p := r.GetPriority(); p < 0 || p > MaxPriority {
		vs.add(f("priority"), fmt.Sprintf("%d is out of range 0-%d", p, MaxPriority))
	}
	validateBackend(&vs, prefix, r)
	validateTLS(&vs, f("tls"), r.GetTls())
	validateHeaders(&vs, f("request_headers"), r.GetRequestHeaders())
	validateHeaders(&vs, f("response_headers"), r.GetResponseHeaders())
	validateTimeouts(&vs, f("timeouts"), r.GetTimeouts())
	validateOutlier(&vs, f("outlier_detection"), r.GetOutlierDetection())
	validateHealthCheck(&vs, f("health_check"), r.GetHealthCheck())
	validateLoadBalancer(&vs, f("load_balancer"), r.GetLoadBalancer())
	validateBreakers(&vs, f("circuit_breakers"), r.GetCircuitBreakers())
	validateRetry(&vs, f("retry_policy"), r.GetRetryPolicy())
	validateHardening(&vs, f, r)
	if p := LabelsProblem(r.GetLabels(), MaxObjectLabels); p != "" {
		vs.add(f("labels"), p)
	}
	return vs.err()
}

func validateHosts(vs *violations, field string, hosts []string) {
	if len(hosts) == 0 {
		vs.add(field, "at least one host is required")
	}
	if len(hosts) > MaxHosts {
		vs.add(field, fmt.Sprintf("at most %d hosts", MaxHosts))
	}
	seen := make(map[string]bool, len(hosts))
	for i, h := range hosts {
		fi := fmt.Sprintf("%s[%d]", field, i)
		if err := ValidateHost(h); err != nil {
			vs.add(fi, err.Error())
		} else if seen[h] {
			vs.add(fi, fmt.Sprintf("%q is listed twice", h))
		}
		seen[h] = true
	}
}

func validatePath(vs *violations, field, p string) {
	switch {
	case p == "":
	case !strings.HasPrefix(p, "/"):
		vs.add(field, fmt.Sprintf("%q must start with '/'", p))
	case len(p) > maxPathBytes:
		vs.add(field, fmt.Sprintf("longer than %d bytes", maxPathBytes))
	case strings.ContainsAny(p, "?# \t\r\n") || strings.Contains(p, "//") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") ||
		strings.Contains(p, "/./") || strings.HasSuffix(p, "/."):
		// Agents route on normalized paths, which never hold these: such a prefix would never match.
		vs.add(field, fmt.Sprintf("%q is not a clean URL path (no query, fragment, spaces, '//', '.' or '..' segments)", p))
	default:
		if _, err := url.PathUnescape(p); err != nil {
			vs.add(field, fmt.Sprintf("%q has a bad escape: %v", p, err))
		}
	}
}

func validateMethods(vs *violations, field string, methods []string) {
	seen := make(map[string]bool, len(methods))
	for i, m := range methods {
		fi := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case !knownMethods[m]:
			vs.add(fi, fmt.Sprintf("%q is not an HTTP method (use upper case: GET, POST, ...)", m))
		case seen[m]:
			vs.add(fi, fmt.Sprintf("%q is listed twice", m))
		}
		seen[m] = true
	}
}

func validateBackend(vs *violations, prefix string, r *edgeplanev1.Route) {
	targets, service := r.GetTargets(), r.GetService()
	switch {
	case len(targets) == 0 && service == "":
		vs.add(prefix+".targets", "set targets or service")
	case len(targets) > 0 && service != "":
		vs.add(prefix+".service", "set targets or service, not both")
	case service != "":
		if err := ValidateName(service); err != nil {
			vs.add(prefix+".service", err.Error())
		}
	}
	if len(targets) > MaxTargets {
		vs.add(prefix+".targets", fmt.Sprintf("at most %d targets", MaxTargets))
	}
	for i, t := range targets {
		fi := fmt.Sprintf("%s.targets[%d]", prefix, i)
		if err := ValidateTargetURL(t.GetUrl()); err != nil {
			vs.add(fi+".url", err.Error())
		}
		if t.GetWeight() > MaxWeight {
			vs.add(fi+".weight", fmt.Sprintf("%d is out of range 0-%d", t.GetWeight(), MaxWeight))
		}
	}
}

// ValidateTargetURL checks a backend URL: absolute http or https with a host, no query,
// fragment or credentials.
func ValidateTargetURL(raw string) error {
	if len(raw) > MaxTargetURLBytes {
		return fmt.Errorf("longer than %d bytes", MaxTargetURLBytes)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %v", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: scheme must be http or https", raw)
	case u.Hostname() == "":
		return fmt.Errorf("%q has no host", raw)
	case u.User != nil:
		return fmt.Errorf("%q must not carry credentials", raw)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q must not have a query or fragment", raw)
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port out of range", raw)
		}
	}
	return nil
}

func validateTLS(vs *violations, field string, t *edgeplanev1.TlsPolicy) {
	if t == nil {
		return
	}
	if _, ok := edgeplanev1.TlsMode_name[int32(t.GetMode())]; !ok {
		vs.add(field+".mode", fmt.Sprintf("unknown mode %d", t.GetMode()))
	}
	cert := t.GetCertificate()
	switch {
	case t.GetMode() == edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE && cert == "":
		vs.add(field+".certificate", "required with TLS_MODE_CERTIFICATE")
	case t.GetMode() != edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE && cert != "":
		vs.add(field+".certificate", "only used with TLS_MODE_CERTIFICATE")
	case cert != "":
		if err := ValidateName(cert); err != nil {
			vs.add(field+".certificate", err.Error())
		}
	}
	mode := t.GetMode()
	if t.GetRedirectHttp() && (mode == edgeplanev1.TlsMode_TLS_MODE_NONE || mode == edgeplanev1.TlsMode_TLS_MODE_UNSPECIFIED) {
		vs.add(field+".redirect_http", "needs a TLS mode other than NONE")
	}
}

func validateHeaders(vs *violations, field string, h *edgeplanev1.HeaderRules) {
	for name, value := range h.GetSet() {
		if !headerPattern.MatchString(name) {
			vs.add(field+".set", fmt.Sprintf("%q is not a valid header name", name))
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			vs.add(field+".set", fmt.Sprintf("value of %q contains a control character", name))
		}
	}
	for i, name := range h.GetRemove() {
		if !headerPattern.MatchString(name) {
			vs.add(fmt.Sprintf("%s.remove[%d]", field, i), fmt.Sprintf("%q is not a valid header name", name))
		}
	}
}

func validateTimeouts(vs *violations, field string, t *edgeplanev1.Timeouts) {
	check := func(name string, d *durationpb.Duration) {
		if d == nil {
			return
		}
		if err := d.CheckValid(); err != nil {
			vs.add(field+"."+name, err.Error())
		} else if v := d.AsDuration(); v < 0 || v > MaxTimeout {
			vs.add(field+"."+name, fmt.Sprintf("%s is out of range 0-%s", v, MaxTimeout))
		}
	}
	check("connect", t.GetConnect())
	check("response", t.GetResponse())
	check("idle", t.GetIdle())
}
