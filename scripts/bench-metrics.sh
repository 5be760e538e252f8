#!/usr/bin/env bash
# bench-metrics.sh measures GET /metrics of vitals against node_exporter's in
# the same run, with the load the README's benchmarks use (wrk -t2 -c10 on loopback),
# and prints both and their ratio; the target is vitals >= 50x.
#
#   scripts/bench-metrics.sh [seconds]     # default 10 per server
#
# Needs wrk and node_exporter (Debian: wrk, prometheus-node-exporter). Both
# servers are started on free loopback ports and stopped at the end; vitals
# runs on SQLite in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"

for bin in wrk prometheus-node-exporter; do
  command -v "$bin" >/dev/null || { echo "bench-metrics: $bin not found (apt-get install wrk prometheus-node-exporter)" >&2; exit 2; }
done

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for URL [HEADER]
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null ${2:+-H "$2"} "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench-metrics: $1 did not answer" >&2
  exit 1
}
# rps prints wrk's requests/s and p99 for one URL.
rps() { # rps URL [HEADER]
  local out
  out="$(wrk -t2 -c10 -d"${duration}s" --latency ${2:+-H "$2"} "$1")"
  printf '%s\n' "$out" >&2
  awk '/^Requests\/sec:/ {r=$2} /^ +99%/ {p=$2} END {print r, p}' <<<"$out"
}

go build -o "$work/vitals" .
token="bench-read-token-0123456789abcdef"
vport="$(free_port)"
PORT="$vport" VITALS_DATA_DIR="$work/data" VITALS_READ_TOKEN="$token" \
  VITALS_ADMIN_PASSWORD="bench-admin-password" VITALS_LOG_FORMAT=json \
  "$work/vitals" serve >"$work/vitals.log" 2>&1 &
pids+=($!)
nport="$(free_port)"
prometheus-node-exporter --web.listen-address="127.0.0.1:$nport" >"$work/node_exporter.log" 2>&1 &
pids+=($!)

auth="Authorization: Bearer $token"
wait_for "http://127.0.0.1:$vport/metrics" "$auth"
wait_for "http://127.0.0.1:$nport/metrics"

echo "== node_exporter /metrics (${duration}s)" >&2
read -r node_rps node_p99 < <(rps "http://127.0.0.1:$nport/metrics")
echo "== vitals /metrics (${duration}s)" >&2
read -r vitals_rps vitals_p99 < <(rps "http://127.0.0.1:$vport/metrics" "$auth")

printf '\n| server | requests/s | p99 |\n|---|---|---|\n'
printf '| node_exporter | %s | %s |\n' "$node_rps" "$node_p99"
printf '| vitals | %s | %s |\n' "$vitals_rps" "$vitals_p99"
awk -v v="$vitals_rps" -v n="$node_rps" 'BEGIN { printf "\nvitals / node_exporter = %.0fx (target >= 50x)\n", v / n }'
