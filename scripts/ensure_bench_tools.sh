#!/usr/bin/env bash
# The read-API benchmark's load generators: wrk drives the API over HTTP, pgbench sends the same lookup straight to
# PostgreSQL (the limit the API is compared with). Both are Debian packages; installed when missing.
set -euo pipefail

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v pgbench >/dev/null 2>&1 || missing+=(postgresql-client)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "ensure_bench_tools: installing Debian's ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
