package docker

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Limits on a service's fields.
const (
	MinMemory      = 6 << 20 // the engine's own minimum
	MaxMemory      = 1 << 40
	MinCPU         = 0.01
	maxCPUFallback = 1024 // when the engine's CPU count is unknown
	MaxArgs        = 256
	MaxEnv         = 1000
	MaxLabels      = 100
	MaxRestarts    = 1000
	MaxHealthTime  = time.Hour
)

var (
	envPattern   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	labelPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]{0,253}[A-Za-z0-9])?$`)
	userPattern  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$`)
)

type violations []model.FieldViolation

func (vs *violations) add(field, desc string) {
	*vs = append(*vs, model.FieldViolation{Field: field, Description: desc})
}

func (vs violations) err() error {
	if len(vs) == 0 {
		return nil
	}
	return &model.ValidationError{Violations: vs}
}

// validate checks every writable field of svc; field paths start with prefix.
func (m *Manager) validate(ctx context.Context, prefix string, svc *edgeplanev1.Service) error {
	var vs violations
	if svc == nil {
		vs.add(prefix, "is required")
		return vs.err()
	}
	f := func(name string) string { return prefix + "." + name }
	if err := model.ValidateName(svc.GetName()); err != nil {
		vs.add(f("name"), err.Error())
	}
	if _, err := reference.ParseAnyReference(svc.GetImage()); err != nil {
		vs.add(f("image"), fmt.Sprintf("%q is not an image reference: %v", svc.GetImage(), err))
	}
	validateArgs(&vs, f("command"), svc.GetCommand())
	validateEnv(&vs, f("env"), svc.GetEnv())
	if p := svc.GetContainerPort(); p < 1 || p > 65535 {
		vs.add(f("container_port"), fmt.Sprintf("%d is not a port (1-65535)", p))
	}
	if p := svc.GetHostPort(); p != 0 {
		if err := m.ports.CheckPreferred(PortPurpose, int(p)); err != nil {
			vs.add(f("host_port"), err.Error())
		}
	}
	if mem := svc.GetMemoryLimit(); mem != 0 && (mem < MinMemory || mem > MaxMemory) {
		vs.add(f("memory_limit"), fmt.Sprintf("%d bytes is out of range: 0 (none) or %d (6 MiB) to %d (1 TiB)", mem, MinMemory, int64(MaxMemory)))
	}
	maxCPU := float64(m.engineCPUs(ctx))
	if c := svc.GetCpuLimit(); c != 0 && (math.IsNaN(c) || c < MinCPU || c > maxCPU) {
		vs.add(f("cpu_limit"), fmt.Sprintf("%g cores is out of range: 0 (none) or %g to %g (the engine's CPUs)", c, MinCPU, maxCPU))
	}
	validateRestart(&vs, prefix, svc)
	validateLabels(&vs, f("labels"), svc.GetLabels())
	validateHealth(&vs, f("health"), svc.GetHealth())
	if u := svc.GetUser(); u != "" && !userPattern.MatchString(u) {
		vs.add(f("user"), fmt.Sprintf("%q is not a user or user:group name or id", u))
	}
	m.checkPolicy(&vs, prefix, svc.GetImage(), svc.GetUser())
	return vs.err()
}

func validateArgs(vs *violations, field string, args []string) {
	if len(args) > MaxArgs {
		vs.add(field, fmt.Sprintf("at most %d arguments", MaxArgs))
	}
	for i, a := range args {
		if strings.ContainsRune(a, 0) {
			vs.add(fmt.Sprintf("%s[%d]", field, i), "contains a NUL byte")
		}
	}
}

func validateEnv(vs *violations, field string, env map[string]string) {
	if len(env) > MaxEnv {
		vs.add(field, fmt.Sprintf("at most %d variables", MaxEnv))
	}
	for k, v := range env {
		switch {
		case !envPattern.MatchString(k):
			vs.add(fmt.Sprintf("%s[%q]", field, k), fmt.Sprintf("%q is not a variable name (letters, digits and '_', not starting with a digit)", k))
		case strings.ContainsRune(v, 0):
			vs.add(fmt.Sprintf("%s[%q]", field, k), "value contains a NUL byte")
		}
	}
}

func validateRestart(vs *violations, prefix string, svc *edgeplanev1.Service) {
	p := svc.GetRestartPolicy()
	if _, ok := edgeplanev1.RestartPolicy_name[int32(p)]; !ok {
		vs.add(prefix+".restart_policy", fmt.Sprintf("unknown policy %d", p))
	}
	n := svc.GetMaxRestarts()
	switch {
	case n < 0 || n > MaxRestarts:
		vs.add(prefix+".max_restarts", fmt.Sprintf("%d is out of range 0-%d", n, MaxRestarts))
	case n != 0 && p != edgeplanev1.RestartPolicy_RESTART_POLICY_ON_FAILURE:
		vs.add(prefix+".max_restarts", "only used with RESTART_POLICY_ON_FAILURE")
	}
}

func validateLabels(vs *violations, field string, labels map[string]string) {
	if len(labels) > MaxLabels {
		vs.add(field, fmt.Sprintf("at most %d labels", MaxLabels))
	}
	for k, v := range labels {
		switch {
		case strings.HasPrefix(k, labelPrefix):
			vs.add(fmt.Sprintf("%s[%q]", field, k), "keys under "+labelPrefix+" are reserved for edgeplane")
		case !labelPattern.MatchString(k):
			vs.add(fmt.Sprintf("%s[%q]", field, k), fmt.Sprintf("%q is not a label key (letters, digits, '.', '_', '/', '-')", k))
		case strings.ContainsRune(v, 0):
			vs.add(fmt.Sprintf("%s[%q]", field, k), "value contains a NUL byte")
		}
	}
}

func validateHealth(vs *violations, field string, h *edgeplanev1.ServiceHealth) {
	if h == nil {
		return
	}
	if len(h.GetCommand()) == 0 {
		vs.add(field+".command", "is required with a healthcheck")
	}
	validateArgs(vs, field+".command", h.GetCommand())
	check := func(name string, d *durationpb.Duration, lo time.Duration) {
		if d == nil {
			return
		}
		if err := d.CheckValid(); err != nil {
			vs.add(field+"."+name, err.Error())
		} else if v := d.AsDuration(); v < lo || v > MaxHealthTime {
			vs.add(field+"."+name, fmt.Sprintf("%s is out of range %s-%s", v, lo, MaxHealthTime))
		}
	}
	check("interval", h.GetInterval(), time.Second)
	check("timeout", h.GetTimeout(), time.Second)
	check("start_period", h.GetStartPeriod(), 0)
	if r := h.GetRetries(); r < 0 || r > 100 {
		vs.add(field+".retries", fmt.Sprintf("%d is out of range 0-100", r))
	}
}

// engineCPUs returns the engine's CPU count, asking it once; maxCPUFallback while unknown.
func (m *Manager) engineCPUs(ctx context.Context) int64 {
	if n := m.cpus.Load(); n > 0 {
		return n
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := m.engine.Info(ctx, client.InfoOptions{})
	if err != nil || info.Info.NCPU <= 0 {
		return maxCPUFallback
	}
	m.cpus.Store(int64(info.Info.NCPU))
	return int64(info.Info.NCPU)
}

// checkImage fails with model.ErrFailedPrecondition, naming the image, if the engine does
// not have svc's image, and with a validation error if svc would run as root by default.
func (m *Manager) checkImage(ctx context.Context, svc *edgeplanev1.Service) error {
	image := svc.GetImage()
	res, err := m.engine.ImageInspect(ctx, image)
	if err == nil {
		imageUser := ""
		if res.Config != nil {
			imageUser = res.Config.User
		}
		return checkImageUser("service", image, svc.GetUser(), imageUser)
	}
	err = engineErr(err, fmt.Sprintf("inspecting image %q", image))
	if isNotFound(err) {
		return fmt.Errorf("image %q is not on the Docker engine (edgeplane does not pull: pull or build it there first): %w", image, model.ErrFailedPrecondition)
	}
	return err
}
