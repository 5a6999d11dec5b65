#!/usr/bin/env bash
# The Celery broker for the local multi-process stack (make stack, and its test): use the Redis at
# SKILLS_STACK_REDIS_URL / 127.0.0.1:6379 when one answers; otherwise install Debian's redis-server and start it.
set -euo pipefail

port=6379
if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    exit 0
fi
if ! command -v redis-server >/dev/null 2>&1; then
    echo "ensure_redis: no Redis on 127.0.0.1:$port; installing Debian's redis-server" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
fi
echo "ensure_redis: starting redis-server on 127.0.0.1:$port (no persistence)" >&2
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes
for _ in $(seq 1 50); do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then exit 0; fi
    sleep 0.2
done
echo "ensure_redis: redis-server did not start on port $port" >&2
exit 1
