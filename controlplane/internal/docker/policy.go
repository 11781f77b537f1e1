package docker

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
)

// Policy limits what services may run.
type Policy struct {
	// AllowedImages are the image references services may use, as prefixes matched at a
	// boundary ("registry.example.com/team" allows "registry.example.com/team/app:1" but not
	// "registry.example.com/team-b/app"). Empty: any image.
	AllowedImages []string
	// AllowRoot lets a service run as user 0 when it asks for it explicitly (user "0" or
	// "root"). A service that sets no user on an image that runs as root is always refused.
	AllowRoot bool
	// PidsLimit is every container's process limit. Default DefaultPidsLimit.
	PidsLimit int64
	// DefaultMemory is the memory limit of a service that sets none. Default DefaultMemory.
	DefaultMemory int64
}

// Policy defaults.
const (
	DefaultPidsLimit = 512
	DefaultMemory    = 512 << 20
)

func (p Policy) withDefaults() Policy {
	if p.PidsLimit <= 0 {
		p.PidsLimit = DefaultPidsLimit
	}
	if p.DefaultMemory <= 0 {
		p.DefaultMemory = DefaultMemory
	}
	return p
}

// imageAllowed reports whether image matches one of the allowed prefixes.
func (p Policy) imageAllowed(image string) bool {
	if len(p.AllowedImages) == 0 {
		return true
	}
	for _, prefix := range p.AllowedImages {
		if image == prefix {
			return true
		}
		if !strings.HasPrefix(image, prefix) {
			continue
		}
		if strings.ContainsAny(prefix[len(prefix)-1:], "/:@") || strings.ContainsAny(image[len(prefix):len(prefix)+1], "/:@") {
			return true
		}
	}
	return false
}

// isRoot reports whether a container user ("name", "uid", "uid:gid") is root; "" (the
// image's default) is not decided here.
func isRoot(user string) bool {
	u, _, _ := strings.Cut(user, ":")
	if n, err := strconv.ParseUint(u, 10, 64); err == nil {
		return n == 0 // "00" is uid 0 too
	}
	return u == "root"
}

// checkPolicy adds the policy's violations of svc to vs.
func (m *Manager) checkPolicy(vs *violations, prefix string, image, user string) {
	if !m.policy.imageAllowed(image) {
		vs.add(prefix+".image", fmt.Sprintf("%q is not an allowed image: the control plane allows only %s (--docker-allowed-images)",
			image, strings.Join(m.policy.AllowedImages, ", ")))
	}
	if isRoot(user) && !m.policy.AllowRoot {
		vs.add(prefix+".user", fmt.Sprintf("%q is root: the control plane refuses root containers unless started with --docker-allow-root", user))
	}
}

// checkImageUser refuses a service that sets no user on an image whose default user is root.
func checkImageUser(prefix, image, user, imageUser string) error {
	if user != "" || (imageUser != "" && !isRoot(imageUser)) {
		return nil
	}
	return &model.ValidationError{Violations: []model.FieldViolation{{Field: prefix + ".user",
		Description: fmt.Sprintf("image %q runs as root by default: set a non-root user (\"65534:65534\"), or \"0\" with --docker-allow-root", image)}}}
}
