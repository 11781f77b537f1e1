package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/go-units"

	"github.com/edgeplane/edgeplane/controlplane/internal/app"
	"github.com/edgeplane/edgeplane/controlplane/internal/docker"
)

// securityFlags registers the flags of authorization and the Docker guard.
func securityFlags(fs *flag.FlagSet, cfg *app.Config) {
	cfg.Auth.DockerCreateRole = "admin"
	fs.Func("docker-create-role", "minimum role that may call DockerService/CreateService: admin (default) or operator", func(v string) error {
		if v != "admin" && v != "operator" {
			return fmt.Errorf("%q: use admin or operator", v)
		}
		cfg.Auth.DockerCreateRole = v
		return nil
	})
	fs.IntVar(&cfg.Auth.MaxStreamsPerPrincipal, "max-streams-per-principal", 8, "concurrent TailEvents and StreamServiceLogs streams each caller may hold")
	fs.Func("docker-allowed-images", "comma-separated image prefixes services may run, e.g. registry.example.com/team,nginxinc/nginx-unprivileged (default: any image)", func(v string) error {
		cfg.DockerPolicy.AllowedImages = nil
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				cfg.DockerPolicy.AllowedImages = append(cfg.DockerPolicy.AllowedImages, p)
			}
		}
		return nil
	})
	fs.BoolVar(&cfg.DockerPolicy.AllowRoot, "docker-allow-root", false, "let services that ask for user 0 (\"user\": \"0\" or \"root\") run as root")
	fs.Int64Var(&cfg.DockerPolicy.PidsLimit, "docker-pids-limit", docker.DefaultPidsLimit, "process limit of every service container")
	cfg.DockerPolicy.DefaultMemory = docker.DefaultMemory
	fs.Func("docker-default-memory", "memory limit of services that set none, e.g. 512MiB, 1GiB or bytes (default 512MiB)", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			n, err = units.RAMInBytes(v)
		}
		if err != nil || n < docker.MinMemory || n > docker.MaxMemory {
			return fmt.Errorf("%q: want a size from 6MiB to 1TiB", v)
		}
		cfg.DockerPolicy.DefaultMemory = n
		return nil
	})
}
