// Package deploy holds edgeplane's deployment files: Dockerfiles (FROM scratch and a static
// binary), a compose file and systemd units. It has no code; its tests build the images,
// validate the compose file and check the units' hardening.
package deploy
