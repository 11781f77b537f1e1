package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgeplane/edgeplane/controlplane/internal/certs"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
)

// MaxObjects bounds the routes, certificates and services of one apply.
const MaxObjects = 1000

// validate checks the whole request and reports every bad field, named by its object
// ("routes[3].hosts[0]").
func validate(req Request, defaultDirectory string) error {
	var vs []model.FieldViolation
	add := func(field, desc string) { vs = append(vs, model.FieldViolation{Field: field, Description: desc}) }
	if n := len(req.Routes) + len(req.Certificates) + len(req.Services); n > MaxObjects {
		add("routes", fmt.Sprintf("%d routes, certificates and services; at most %d in one apply", n, MaxObjects))
		return &model.ValidationError{Violations: vs}
	}
	seen := map[string]int{}
	for i, r := range req.Routes {
		prefix := fmt.Sprintf("routes[%d]", i)
		vs = append(vs, violations(model.ValidateRoute(prefix, r))...)
		if j, dup := seen[r.GetName()]; dup && r.GetName() != "" {
			add(prefix+".name", fmt.Sprintf("%q is also routes[%d]", r.GetName(), j))
		}
		seen[r.GetName()] = i
		if e := r.GetEtag(); e != "" {
			if _, err := store.ParseEtag(e); err != nil {
				add(prefix+".etag", err.Error())
			}
		}
	}
	clear(seen)
	for i, c := range req.Certificates {
		prefix := fmt.Sprintf("certificates[%d]", i)
		vs = append(vs, violations(certs.ValidateDeclared(prefix, c, defaultDirectory))...)
		if j, dup := seen[c.GetName()]; dup && c.GetName() != "" {
			add(prefix+".name", fmt.Sprintf("%q is also certificates[%d]", c.GetName(), j))
		}
		seen[c.GetName()] = i
	}
	clear(seen)
	for i, svc := range req.Services {
		if j, dup := seen[svc.GetName()]; dup && svc.GetName() != "" {
			add(fmt.Sprintf("services[%d].name", i), fmt.Sprintf("%q is also services[%d]", svc.GetName(), j))
		}
		seen[svc.GetName()] = i
	}
	if req.Prune && len(req.Selector) == 0 {
		add("selector", "prune needs a label selector (such as {\"team\": \"a\"}) so it only deletes what this set owns")
	}
	if p := model.LabelsProblem(req.Selector, model.MaxObjectLabels); p != "" {
		add("selector", p)
	}
	if len(vs) > 0 {
		return &model.ValidationError{Violations: vs}
	}
	return nil
}

func violations(err error) []model.FieldViolation {
	if verr, ok := err.(*model.ValidationError); ok {
		return verr.Violations
	}
	if err != nil {
		return []model.FieldViolation{{Field: "", Description: err.Error()}}
	}
	return nil
}

// validate checks the request, the services with the Docker manager's rules.
func (s *Service) validate(ctx context.Context, req Request) error {
	err := validate(req, s.cfg.ACMEDirectory)
	var verr *model.ValidationError
	if err != nil && !errors.As(err, &verr) {
		return err
	}
	if len(req.Services) > 0 && s.cfg.Services == nil {
		return fmt.Errorf("the request declares services but Docker services are disabled on this control plane: %w", model.ErrFailedPrecondition)
	}
	var vs []model.FieldViolation
	if verr != nil {
		vs = verr.Violations
	}
	for i, svc := range req.Services {
		vs = append(vs, violations(s.cfg.Services.Validate(ctx, fmt.Sprintf("services[%d]", i), svc))...)
	}
	if len(vs) > 0 {
		return &model.ValidationError{Violations: vs}
	}
	return nil
}
