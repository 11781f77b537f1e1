package routing

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// setters copies one writable field from src to dst, by update_mask path.
var setters = map[string]func(dst, src *edgeplanev1.Route){
	"hosts":             func(d, s *edgeplanev1.Route) { d.Hosts = s.Hosts },
	"path_prefix":       func(d, s *edgeplanev1.Route) { d.PathPrefix = s.PathPrefix },
	"methods":           func(d, s *edgeplanev1.Route) { d.Methods = s.Methods },
	"priority":          func(d, s *edgeplanev1.Route) { d.Priority = s.Priority },
	"targets":           func(d, s *edgeplanev1.Route) { d.Targets = s.Targets },
	"service":           func(d, s *edgeplanev1.Route) { d.Service = s.Service },
	"tls":               func(d, s *edgeplanev1.Route) { d.Tls = s.Tls },
	"preserve_host":     func(d, s *edgeplanev1.Route) { d.PreserveHost = s.PreserveHost },
	"request_headers":   func(d, s *edgeplanev1.Route) { d.RequestHeaders = s.RequestHeaders },
	"response_headers":  func(d, s *edgeplanev1.Route) { d.ResponseHeaders = s.ResponseHeaders },
	"timeouts":          func(d, s *edgeplanev1.Route) { d.Timeouts = s.Timeouts },
	"outlier_detection": func(d, s *edgeplanev1.Route) { d.OutlierDetection = s.OutlierDetection },
	"max_body_bytes":    func(d, s *edgeplanev1.Route) { d.MaxBodyBytes = s.MaxBodyBytes },
	"upgrade_protocols": func(d, s *edgeplanev1.Route) { d.UpgradeProtocols = s.UpgradeProtocols },
	"allow_underscores_in_headers": func(d, s *edgeplanev1.Route) {
		d.AllowUnderscoresInHeaders = s.AllowUnderscoresInHeaders
	},
	"encoded_slashes":     func(d, s *edgeplanev1.Route) { d.EncodedSlashes = s.EncodedSlashes },
	"keep_empty_segments": func(d, s *edgeplanev1.Route) { d.KeepEmptySegments = s.KeepEmptySegments },
	"retry_policy":        func(d, s *edgeplanev1.Route) { d.RetryPolicy = s.RetryPolicy },
	"labels":              func(d, s *edgeplanev1.Route) { d.Labels = s.Labels },
	"health_check":        func(d, s *edgeplanev1.Route) { d.HealthCheck = s.HealthCheck },
	"load_balancer":       func(d, s *edgeplanev1.Route) { d.LoadBalancer = s.LoadBalancer },
	"circuit_breakers":    func(d, s *edgeplanev1.Route) { d.CircuitBreakers = s.CircuitBreakers },
}

// maskAliases accepts protojson's lowerCamelCase paths too.
var maskAliases = map[string]string{
	"pathPrefix": "path_prefix", "preserveHost": "preserve_host",
	"requestHeaders": "request_headers", "responseHeaders": "response_headers",
	"outlierDetection": "outlier_detection", "maxBodyBytes": "max_body_bytes",
	"upgradeProtocols": "upgrade_protocols", "allowUnderscoresInHeaders": "allow_underscores_in_headers",
	"encodedSlashes": "encoded_slashes", "keepEmptySegments": "keep_empty_segments",
	"healthCheck": "health_check", "loadBalancer": "load_balancer", "circuitBreakers": "circuit_breakers",
	"retryPolicy": "retry_policy",
}

func checkMask(mask []string) error {
	var vs []model.FieldViolation
	for i, p := range mask {
		if _, ok := setters[canonical(p)]; !ok {
			vs = append(vs, model.FieldViolation{
				Field:       fmt.Sprintf("update_mask.paths[%d]", i),
				Description: fmt.Sprintf("%q is not a writable route field", p),
			})
		}
	}
	if len(vs) > 0 {
		return &model.ValidationError{Violations: vs}
	}
	return nil
}

func canonical(path string) string {
	if c, ok := maskAliases[path]; ok {
		return c
	}
	return path
}

// applyMask returns a copy of cur with the masked fields of in (all when mask is empty).
func applyMask(cur, in *edgeplanev1.Route, mask []string) *edgeplanev1.Route {
	out := proto.CloneOf(cur)
	src := proto.CloneOf(in)
	if len(mask) == 0 {
		for _, set := range setters {
			set(out, src)
		}
		return out
	}
	for _, p := range mask {
		setters[canonical(p)](out, src)
	}
	return out
}
