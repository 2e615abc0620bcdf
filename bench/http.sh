#!/usr/bin/env bash
# HTTP benchmark of `playcount serve` with wrk (Debian package `wrk`): requests per
# second on `GET /jobs/<id>/` (a job's state: a question to the job registry actor)
# and `GET /healthz` (answered by the HTTP thread alone), each with a new connection
# per request (wrk's default request has no `Connection` header, and Pistache
# closes such connections) and with kept-alive connections. Then the same under
# load: while big jobs are uploaded and counted one after another, and
# `GET /healthz` while the job registry is kept busy listing jobs
# (`GET /jobs/?limit=1000` from as many connections again): a server whose
# handlers wait for the registry answers /healthz only when a thread is free.
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
#   REPEAT        runs of each case; the median is printed (default: 3)
#   BIG_ROWS      rows of the generated file counted under load (default:
#                 10000000, about 260 MB; made once in bench/data)
#   SKIP_LOAD     1: only the runs without load
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
REPEAT=${REPEAT:-3}
BIG_ROWS=${BIG_ROWS:-10000000}

DATA_DIR=$BENCH_DIR/data
mkdir -p "$DATA_DIR"
log() { echo "http.sh: $*" >&2; }
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"

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

echo "playcount serve, $(nproc) cores; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; median of $REPEAT runs"
# wrk's latency ("1.23ms", "456.00us", "2.01s") in ms.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000
    printf "%.3f", n }'
}
# run NAME WRK-ARGS...: wrk REPEAT times; the medians of requests/s, mean latency
# and p99 (ms), the load average after the last run, and any non-2xx answers or
# socket errors.
run() {
  local what=$1; shift
  local rps=() lat=() p99=() bad=0 errs="" out
  for _ in $(seq "$REPEAT"); do
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@")
    rps+=("$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")")
    lat+=("$(to_ms "$(awk '/^    Latency/ {print $2}' <<<"$out")")")
    p99+=("$(to_ms "$(awk '/^ +99%/ {print $2}' <<<"$out")")")
    bad=$((bad + $(awk '/Non-2xx or 3xx responses:/ {n = $NF} END {print n + 0}' <<<"$out")))
    errs+=$(awk '/Socket errors:/ {print " " $0}' <<<"$out")
  done
  local nok=""
  [ "$bad" -gt 0 ] && nok="   NON-2XX: $bad"
  printf '%-52s %10.0f req/s   latency avg %7.2f ms  p99 %8.2f ms   load %s%s%s\n' "$what" \
    "$(stat_of median "${rps[@]}")" "$(stat_of median "${lat[@]}")" "$(stat_of median "${p99[@]}")" \
    "$(cut -d' ' -f1 /proc/loadavg)" "$nok" "${errs:+  $errs}"
}
run "GET /healthz (new connection each)" "$URL/healthz"
run "GET /healthz (keep-alive)" -H 'Connection: keep-alive' "$URL/healthz"
run "GET /jobs/<id>/ (new connection each)" "$URL/jobs/$ID/"
run "GET /jobs/<id>/ (keep-alive)" -H 'Connection: keep-alive' "$URL/jobs/$ID/"
[ "${SKIP_LOAD:-0}" = 1 ] && exit 0

# -- under load ------------------------------------------------------------------
build_gen
generated "$BIG_ROWS" 5000 365 1 5
BIG=$FILE
upload() { curl -sf -H 'Expect:' -H 'Content-Type: text/csv' --data-binary "@$1" "$URL/jobs/count/" |
  sed -n 's/.*"jobId":"\([^"]*\)".*/\1/p'; }
# Big jobs one after another (each upload waits for the previous one's job to
# end), for as long as the file STOP does not exist.
keep_counting() {
  while [ ! -e "$DATA/STOP" ]; do
    local id
    id=$(upload "$BIG") || true
    [ -n "$id" ] || { sleep 0.2; continue; }
    echo "$id" >"$DATA/big-id"
    while [ ! -e "$DATA/STOP" ] && curl -sf "$URL/jobs/$id/" | grep -Eq '"state":"(queued|started)"'; do
      sleep 0.2
    done
  done
}
rm -f "$DATA/STOP"
keep_counting &
COUNTER_PID=$!
for _ in $(seq 600); do [ -s "$DATA/big-id" ] && break; sleep 0.1; done
BIG_ID=$(cat "$DATA/big-id")
run "GET /jobs/<id>/ (keep-alive) while jobs count" -H 'Connection: keep-alive' "$URL/jobs/$BIG_ID/"
run "GET /healthz (keep-alive) while jobs count" -H 'Connection: keep-alive' "$URL/healthz"
touch "$DATA/STOP"
wait "$COUNTER_PID" 2>/dev/null || true
echo "  jobs counted meanwhile: $(curl -sf "$URL/jobs/?limit=1000" | grep -o '"state":"finished"' | wc -l) finished in all"

# The registry kept busy: a thousand jobs to list, listed by CONNECTIONS
# clients at once, while /healthz is asked from CONNECTIONS more.
for _ in $(seq 300); do upload "$DATA/plays.csv" >/dev/null || true; done
wrk -t1 -c"$CONNECTIONS" -d"$((2 * DURATION * REPEAT + 5))s" -H 'Connection: keep-alive' \
  "$URL/jobs/?limit=1000" >"$DATA/list.out" 2>&1 &
LIST_PID=$!
sleep 2
run "GET /healthz (keep-alive) while the registry lists" -H 'Connection: keep-alive' "$URL/healthz"
run "GET /jobs/<id>/ (keep-alive) while the registry lists" -H 'Connection: keep-alive' "$URL/jobs/$ID/"
wait "$LIST_PID" || true
printf '%-52s %10s req/s\n' "  (the lists meanwhile: GET /jobs/?limit=1000)" "$(awk '/^Requests\/sec:/ {print $2}' "$DATA/list.out")"
