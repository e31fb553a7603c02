#!/usr/bin/env bash
# Runs a local /chat cluster: redis-server, three wisp-server instances sharing their
# rooms through it (--redis), and nginx in front of them as the load balancer (round
# robin, TCP, the PROXY protocol: each instance logs and limits the client's address). Prints the URL to open, then runs until Ctrl-C / SIGTERM, and stops
# everything it started (by PID).
#
#   bash scripts/cluster.sh            build target/release/wisp-server first
#   WISP_SERVER=path/to/wisp-server bash scripts/cluster.sh     use that binary
#   WISP_INSTANCES=5 bash scripts/cluster.sh                     five instances
#
# Everything listens on 127.0.0.1 only, on free ports; Redis keeps nothing on disk
# (--save "" --appendonly no). Logs go to a temporary directory (printed; removed at
# exit). Needs Debian's redis-server and nginx (bash scripts/setup.sh installs them).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

INSTANCES="${WISP_INSTANCES:-3}"
for cmd in redis-server redis-cli python3; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "cluster: $cmd not found (bash scripts/setup.sh)" >&2; exit 1; }
done
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
[ -x "$NGINX" ] || { echo "cluster: nginx not found (bash scripts/setup.sh)" >&2; exit 1; }

if [ -n "${WISP_SERVER:-}" ]; then
  SERVER="$WISP_SERVER"
else
  cargo build --release -q -p wisp-server --bin wisp-server
  SERVER="target/release/wisp-server"
fi

DIR="$(mktemp -d -t wisp-cluster.XXXXXX)"
PIDS=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_for WHAT COMMAND...: retries COMMAND for up to 10 s.
wait_for() {
  local what=$1; shift
  for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "cluster: $what did not come up; logs in $DIR:" >&2
  tail -n 20 "$DIR"/*.log >&2 || true
  exit 1
}

REDIS_PORT="$(free_port)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --daemonize no >"$DIR/redis.log" 2>&1 &
PIDS+=($!)
wait_for "redis-server" redis-cli -p "$REDIS_PORT" ping

UPSTREAMS=""
for i in $(seq "$INSTANCES"); do
  RUST_LOG="${RUST_LOG:-info}" "$SERVER" --listen 127.0.0.1:0 --web web \
    --redis "redis://127.0.0.1:$REDIS_PORT" --trusted-proxy 127.0.0.1/32 >"$DIR/wisp-$i.out" 2>"$DIR/wisp-$i.log" &
  PIDS+=($!)
  wait_for "wisp-server $i" grep -q '^listening on' "$DIR/wisp-$i.out"
  addr="$(sed -n 's|^listening on http://\(.*\)/$|\1|p' "$DIR/wisp-$i.out")"
  echo "cluster: wisp-server $i on $addr (pid ${PIDS[-1]}, log $DIR/wisp-$i.log)"
  UPSTREAMS+="    server $addr;"$'\n'
done

NGINX_PORT="$(free_port)"
mkdir -p "$DIR/nginx"
STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so
[ -e "$STREAM_MODULE" ] || { echo "cluster: nginx's stream module not found (bash scripts/setup.sh: libnginx-mod-stream)" >&2; exit 1; }
# A TCP balancer (nginx's stream module) that tells each instance the client's address
# with the PROXY protocol (v1); the instances trust nginx's address only.
cat >"$DIR/nginx.conf" <<EOF
load_module $STREAM_MODULE;
daemon off;
master_process off;
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/nginx.log warn;
events { worker_connections 4096; }
stream {
  upstream wisp {
$UPSTREAMS  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    proxy_pass wisp;
    proxy_protocol on;
    proxy_timeout 1h;
  }
}
EOF
"$NGINX" -p "$DIR/nginx" -c "$DIR/nginx.conf" -e "$DIR/nginx.log" &
PIDS+=($!)
wait_for "nginx" bash -c "exec 3<>/dev/tcp/127.0.0.1/$NGINX_PORT"

echo "cluster: redis-server on 127.0.0.1:$REDIS_PORT, nginx (pid ${PIDS[-1]}) in front of $INSTANCES instances"
echo "cluster: chat at ws://127.0.0.1:$NGINX_PORT/chat?room=lobby (the page: http://127.0.0.1:$NGINX_PORT/)"
echo "cluster: Ctrl-C stops it"
wait
