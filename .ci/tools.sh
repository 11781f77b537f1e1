#!/usr/bin/env bash
# Installs the pinned Go tools into $(go env GOBIN) (or $(go env GOPATH)/bin), each only when
# the binary there was not built from the pinned module version. Outside the main module on
# purpose: these are not dependencies of edgeplane's go.mod.
set -euo pipefail

gobin="$(go env GOBIN)"
gobin="${gobin:-$(go env GOPATH)/bin}"

# binary  package  module  version
tools=(
  "buf                 github.com/bufbuild/buf/cmd/buf                       github.com/bufbuild/buf                      v1.75.0"
  "protoc-gen-go       google.golang.org/protobuf/cmd/protoc-gen-go          google.golang.org/protobuf                   v1.36.12"
  "protoc-gen-go-grpc  google.golang.org/grpc/cmd/protoc-gen-go-grpc         google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.6.0"
  "grpcurl             github.com/fullstorydev/grpcurl/cmd/grpcurl           github.com/fullstorydev/grpcurl              v1.9.3"
  # staticcheck 2025.1.1 is module version v0.6.1 (the proxy serves only the semver name).
  "staticcheck         honnef.co/go/tools/cmd/staticcheck                    honnef.co/go/tools                           v0.6.1"
  # The ACME test CA and its challenge/DNS test server (certificate tests; DESIGN.md "Testing").
  "pebble              github.com/letsencrypt/pebble/v2/cmd/pebble           github.com/letsencrypt/pebble/v2             v2.10.1"
  "pebble-challtestsrv github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv github.com/letsencrypt/pebble/v2            v2.10.1"
  # HTTP/2 conformance (agent/internal/frontend TestServer_H2spec). v2 has no go.mod, hence
  # +incompatible (its dependencies resolve to their latest versions).
  "h2spec              github.com/summerwind/h2spec/cmd/h2spec               github.com/summerwind/h2spec                 v2.2.1+incompatible"
)

for line in "${tools[@]}"; do
  read -r bin pkg mod version <<<"$line"
  # `go version -m` prints "mod <module> <version> <sum>" for the main module of a binary.
  if go version -m "$gobin/$bin" 2>/dev/null | awk -v m="$mod" -v v="$version" \
      '$1 == "mod" && $2 == m && $3 == v { found = 1 } END { exit !found }'; then
    continue
  fi
  echo "installing $bin $version"
  (cd / && go install "$pkg@$version")
done
