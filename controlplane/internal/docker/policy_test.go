package docker_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/edgeplane/edgeplane/controlplane/internal/docker"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// violated returns the fields err names, or fails if it is not a validation error.
func violated(t *testing.T, err error) []string {
	t.Helper()
	var verr *model.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("got %v, want a ValidationError", err)
	}
	var fields []string
	for _, v := range verr.Violations {
		fields = append(fields, v.Field)
	}
	return fields
}

func TestPolicy_AllowedImages(t *testing.T) {
	// The test image is "edgeplane-test-<hex>:latest".
	e := newEnvFor(t, func(image string) docker.Policy {
		repo, _, _ := strings.Cut(image, ":")
		return docker.Policy{AllowedImages: []string{"registry.example.com/team", "edgeplane-test", repo + "-x", repo + ":"}}
	})
	svc := e.create(t, e.service("web")) // allowed by repo + ":"
	other := e.service("other")
	for _, image := range []string{"registry.example.com/team-b/app:1", "edgeplane-test-other:1", "docker.io/library/alpine"} {
		other.Image = image
		_, _, err := e.m.Create(t.Context(), other)
		if got := violated(t, err); !slices.Equal(got, []string{"service.image"}) || !strings.Contains(err.Error(), "--docker-allowed-images") {
			t.Errorf("image %s: got %v (%v), want service.image naming the flag", image, got, err)
		}
	}
	_, _, err := e.m.Update(t.Context(), &edgeplanev1.Service{Name: "web", Image: "registry.example.com/teams/app", Etag: svc.GetEtag()}, []string{"image"})
	if got := violated(t, err); !slices.Equal(got, []string{"service.image"}) {
		t.Errorf("update to a refused image: got %v, want service.image", got)
	}
}

func TestPolicy_Root(t *testing.T) {
	ctx := t.Context()
	strict := newEnv(t)
	tests := []struct {
		name, user string
		want       string
	}{
		{"image default (root)", "", "service.user"},
		{"uid 0", "0", "service.user"},
		{"root by name", "root:root", "service.user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strict.service("root")
			in.User = tt.user
			_, _, err := strict.m.Create(ctx, in)
			if got := violated(t, err); !slices.Equal(got, []string{tt.want}) {
				t.Errorf("got %v, want [%s]", got, tt.want)
			}
			strict.expectNothing(t)
		})
	}

	lax := newEnvWith(t, docker.Policy{AllowRoot: true})
	in := lax.service("noroot")
	in.User = ""
	if _, _, err := lax.m.Create(ctx, in); !slices.Equal(violated(t, err), []string{"service.user"}) {
		t.Errorf("--docker-allow-root, image default: got %v, want a violation of service.user (root must be asked for)", err)
	}
	in.User = "0"
	svc := lax.create(t, in)
	c, err := lax.engine.ContainerInspect(ctx, svc.GetContainerId(), client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Container.Config.User != "0" {
		t.Errorf("user: got %q, want 0", c.Container.Config.User)
	}
	_, _, err = lax.m.Update(ctx, &edgeplanev1.Service{Name: "noroot", Etag: svc.GetEtag()}, []string{"user"})
	if !slices.Equal(violated(t, err), []string{"service.user"}) {
		t.Errorf("update to the image's default user: got %v, want a violation of service.user", err)
	}
}

func TestPolicy_DefaultLimits(t *testing.T) {
	defaults := newEnv(t)
	configured := newEnvWith(t, docker.Policy{DefaultMemory: 64 << 20, PidsLimit: 100})
	tests := []struct {
		name       string
		env        *env
		memory     int64 // the service's own limit
		wantMemory int64
		wantPids   int64
	}{
		{"defaults", defaults, 0, docker.DefaultMemory, docker.DefaultPidsLimit},
		{"the service's own memory limit", defaults, 32 << 20, 32 << 20, docker.DefaultPidsLimit},
		{"configured", configured, 0, 64 << 20, 100},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.env.service(fmt.Sprintf("limited-%d", i))
			in.MemoryLimit = tt.memory
			svc := tt.env.create(t, in)
			c, err := tt.env.engine.ContainerInspect(t.Context(), svc.GetContainerId(), client.ContainerInspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			hc := c.Container.HostConfig
			if hc.Memory != tt.wantMemory || hc.PidsLimit == nil || *hc.PidsLimit != tt.wantPids {
				t.Errorf("got memory %d, pids %v; want %d, %d", hc.Memory, hc.PidsLimit, tt.wantMemory, tt.wantPids)
			}
		})
	}
}
