#!/usr/bin/env bash
# HTTP benchmark of `playcount serve` with wrk (Debian package `wrk`): requests per
# second on `GET /jobs/<id>/` (a job's state: a question to the job registry actor)
# and `GET /healthz` (answered by the HTTP thread alone), each with a new connection
# per request (wrk's default request has no `Connection` header, and Pistache
# closes such connections) and with kept-alive connections.
#
#   bench/http.sh
#
# Environment (all optional):
#   PLAYCOUNT     binary under test                 (default: <repo>/build/bin/playcount)
#   DURATION      seconds per wrk run               (default: 10)
#   THREADS       wrk threads                       (default: 2)
#   CONNECTIONS   wrk connections                   (default: 32)
#   HTTP_THREADS  passed as `serve --http-threads`  (default: playcount's own, 4)
#   PORT          port to serve on                  (default: 18080)
#
# The server runs on 127.0.0.1 with a fresh data directory under /tmp (removed at the
# end), one small job is uploaded and left finished, then each wrk run is made once
# and its "Requests/sec" line printed with its latency. Every answer must be 200:
# wrk's "Non-2xx or 3xx responses" count is printed when there were any.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
PLAYCOUNT=${PLAYCOUNT:-$REPO_ROOT/build/bin/playcount}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18080}

command -v wrk >/dev/null || { echo "http.sh: wrk is missing: apt-get install wrk" >&2; exit 2; }
[ -x "$PLAYCOUNT" ] || { echo "http.sh: no binary at $PLAYCOUNT (build first)" >&2; exit 2; }

DATA=$(mktemp -d /tmp/playcount-http-bench-XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$DATA"
}
trap cleanup EXIT

serve_args=(serve --host 127.0.0.1 --port "$PORT" --data-dir "$DATA/data" --log-level warn)
[ -n "${HTTP_THREADS:-}" ] && serve_args+=(--http-threads "$HTTP_THREADS")
"$PLAYCOUNT" "${serve_args[@]}" 2>"$DATA/server.log" &
SERVER_PID=$!
URL="http://127.0.0.1:$PORT"
for _ in $(seq 100); do
  curl -sf "$URL/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "$URL/healthz" >/dev/null || { echo "http.sh: the server did not come up:" >&2; cat "$DATA/server.log" >&2; exit 1; }

printf 'Song,Date,Number of Plays\nUmbrella,2020-01-01,3\nUmbrella,2020-01-02,4\n' >"$DATA/plays.csv"
ID=$(curl -sf -H 'Expect:' -F "file=@$DATA/plays.csv" "$URL/jobs/count/" | sed -n 's/.*"jobId":"\([^"]*\)".*/\1/p')
[ -n "$ID" ] || { echo "http.sh: the upload failed" >&2; exit 1; }
for _ in $(seq 100); do
  curl -sf "$URL/jobs/$ID/" | grep -q '"state":"finished"' && break
  sleep 0.05
done

echo "playcount serve, $(nproc) cores; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s"
run() {
  local what=$1; shift
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@")
  local rps lat p99 bad
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  lat=$(awk '/^    Latency/ {print $2}' <<<"$out")
  p99=$(awk '/^ +99%/ {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
  errs=$(awk '/Socket errors:/ {print}' <<<"$out")
  printf '%-44s %10s req/s   latency avg %-8s p99 %-8s%s%s\n' "$what" "$rps" "$lat" "$p99" \
    "${bad:+   NON-2XX: $bad}" "${errs:+   $errs}"
}
run "GET /healthz (new connection each)" "$URL/healthz"
run "GET /healthz (keep-alive)" -H 'Connection: keep-alive' "$URL/healthz"
run "GET /jobs/<id>/ (new connection each)" "$URL/jobs/$ID/"
run "GET /jobs/<id>/ (keep-alive)" -H 'Connection: keep-alive' "$URL/jobs/$ID/"
