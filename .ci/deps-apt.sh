#!/usr/bin/env bash
# Installs the Debian packages the tests need, only those whose command is missing.
set -euo pipefail

# command:package
wanted=(
  redis-server:redis-server
  chromium:chromium # the dashboard's browser tests (controlplane/internal/dashboard)
)
# The deploy tests validate deploy/docker-compose.yml with either Compose CLI.
if ! docker compose version >/dev/null 2>&1; then
  wanted+=(docker-compose:docker-compose)
fi

missing=()
for w in "${wanted[@]}"; do
  command -v "${w%%:*}" >/dev/null 2>&1 || missing+=("${w#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "installing Debian packages: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
