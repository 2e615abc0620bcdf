#!/usr/bin/env bash
# A worker node's peak memory with and without its own --memory-limit
# (issue 11): a server that only coordinates (--workers 0) and one node of
# two workers total INPUT, once per setting in NODE_LIMITS; printed for each:
# the job's time (submit to finished, polled every 0.2 s), the node's and the
# server's peak RSS (VmHWM) and CPU seconds, the spills, and whether the
# result equals `playcount count`'s byte for byte. The node's temp dir must
# be empty after SIGTERM.
#
# Environment (all optional):
#   PLAYCOUNT    binary under test (default: <repo>/build/bin/playcount)
#   INPUT        the CSV file (default: the first 4 M rows of
#                bench/data/shape-millions.csv, about 4 M groups; make that
#                with bench/shapes.sh)
#   NODE_LIMITS  node settings, "none" for the default (default: "none 64M")
#   SERVER_ARGS  more options for serve (e.g. "--memory-limit 64M")
#   PORT, CLUSTER_PORT  (default 18777, 18778)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PLAYCOUNT=${PLAYCOUNT:-$BENCH_DIR/../build/bin/playcount}
NODE_LIMITS=${NODE_LIMITS:-none 64M}
SERVER_ARGS=${SERVER_ARGS:-}
PORT=${PORT:-18777}
CLUSTER_PORT=${CLUSTER_PORT:-18778}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/node-memory-XXXXXX")
trap 'rm -rf "$WORK"' EXIT

INPUT=${INPUT:-}
if [ -z "$INPUT" ]; then
  INPUT=$WORK/input.csv
  head -n 4000001 "$BENCH_DIR/data/shape-millions.csv" > "$INPUT"
fi
"$PLAYCOUNT" count "$INPUT" -o "$WORK/truth.csv" --quiet

cpu_seconds() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }
hwm() { awk '/VmHWM/ { printf "%d MB", $2 / 1024 }' "/proc/$1/status"; }

for limit in $NODE_LIMITS; do
  node_args=()
  [ "$limit" != none ] && node_args=(--memory-limit "$limit")
  rm -rf "$WORK/data" "$WORK/temp" && mkdir "$WORK/temp"
  # shellcheck disable=SC2086
  "$PLAYCOUNT" serve --port "$PORT" --workers 0 --cluster-port "$CLUSTER_PORT" \
    --cluster-token bench --data-dir "$WORK/data" --max-upload 4G $SERVER_ARGS \
    > "$WORK/server.log" 2>&1 &
  server=$!
  until curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null; do sleep 0.1; done
  "$PLAYCOUNT" worker --join "127.0.0.1:$CLUSTER_PORT" --cluster-token bench \
    --workers 2 --temp-dir "$WORK/temp" "${node_args[@]}" > "$WORK/node.log" 2>&1 &
  node=$!
  until grep -q "joined the server" "$WORK/node.log"; do sleep 0.1; done
  start=$(date +%s.%N)
  id=$(curl -s -H 'Content-Type: text/csv' --data-binary "@$INPUT" \
         "http://127.0.0.1:$PORT/jobs/count/" | sed 's/.*"jobId":"\([^"]*\)".*/\1/')
  while :; do
    job=$(curl -s "http://127.0.0.1:$PORT/jobs/$id/")
    case "$job" in *'"state":"finished"'* | *'"state":"failed"'*) break ;; esac
    sleep 0.2
  done
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  curl -s "http://127.0.0.1:$PORT/jobs/$id/result/" -o "$WORK/result.csv"
  same=no
  cmp -s "$WORK/result.csv" "$WORK/truth.csv" && same=yes
  printf 'node --memory-limit %s: %.1f s; node %s peak, %s CPU s; server %s peak, %s CPU s; node spills %d; server spilledBytes %s; groups %s; same bytes as count: %s\n' \
    "$limit" "$seconds" "$(hwm $node)" "$(cpu_seconds $node)" "$(hwm $server)" \
    "$(cpu_seconds $server)" "$(grep -c spilled "$WORK/node.log" || true)" \
    "$(echo "$job" | sed -n 's/.*"spilledBytes":\([0-9]*\).*/\1/p')" \
    "$(echo "$job" | sed -n 's/.*"groups":\([0-9]*\).*/\1/p')" "$same"
  kill -TERM "$node"; wait "$node" || true
  [ -z "$(ls -A "$WORK/temp")" ] || echo "the node left files in its temp dir" >&2
  kill -TERM "$server"; wait "$server" || true
done
