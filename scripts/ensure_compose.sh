#!/usr/bin/env bash
# `docker compose config` validates docker-compose.yml in the test suite. Our machines have no Docker engine and no
# compose plugin, so when neither `docker compose` nor `docker-compose` exists, install Debian's docker-compose
# (it validates and renders the file; it is never used to run containers here).
set -euo pipefail

if docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; then
    exit 0
fi
echo "ensure_compose: installing Debian's docker-compose to validate docker-compose.yml" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq docker-compose >/dev/null
