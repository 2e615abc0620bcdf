#!/usr/bin/env bash
# Song lookups on a large result (issue 15's target: under 10 ms, median of
# many, over loopback): a job whose result has SONGS x DAYS rows (80 000 x
# 365 = 29.2 M by default: every song on every day), then N lookups of
# random songs with curl, each timed by curl itself (`-w %{time_total}`:
# connect, request, answer), for
#   series  GET /jobs/<id>/songs/Song%20<k>         (one song's 365 rows)
#   prefix  GET /jobs/<id>/songs?prefix=Song%20<k>&limit=20
# and the median and p99 of each printed, in milliseconds, with the load
# average (other work on the machine shows in the tail).
#
#   bench/songs.sh
#
# Environment (all optional):
#   PLAYCOUNT  binary under test        (default: <repo>/build/bin/playcount)
#   SONGS      songs                    (default: 80000)
#   DAYS       days from 2020-01-01     (default: 365)
#   N          lookups of each kind     (default: 500)
#   PORT       port to serve on         (default: 18081)
#   KEEP       1: keep the input file   (default: removed at the end, as the
#              job's data directory always is; about 0.8 GB each)
#
# The input (bench/data/grid-SONGS-DAYS.csv) is made once by a small C
# generator and reused while it is there. The first request after the job
# opens its song index (a check of the whole index); it is timed apart.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
PLAYCOUNT=${PLAYCOUNT:-$REPO_ROOT/build/bin/playcount}
SONGS=${SONGS:-80000}
DAYS=${DAYS:-365}
N=${N:-500}
PORT=${PORT:-18081}
KEEP=${KEEP:-0}

DATA_DIR=$BENCH_DIR/data
mkdir -p "$DATA_DIR"
log() { echo "songs.sh: $*" >&2; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
die() { log "$*"; exit 2; }
command -v curl >/dev/null || die "curl is missing"
command -v cc >/dev/null || die "no C compiler (cc) for the generator"
[ -x "$PLAYCOUNT" ] || die "no binary at $PLAYCOUNT (build first)"

# Every song on every day, one row each, in a scrambled song order.
GRID="$DATA_DIR/grid"
if [ ! -x "$GRID" ]; then
  cat > "$DATA_DIR/grid.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int main(int argc, char** argv) {
  const long songs = atol(argv[1]);
  const int days = atoi(argv[2]);
  static char buf[1 << 16];
  setvbuf(stdout, buf, _IOFBF, sizeof buf);
  char(*dates)[11] = malloc((size_t)days * 11);
  for (int d = 0; d < days; d++) {
    time_t t = 1577836800 + (time_t)d * 86400; /* 2020-01-01 UTC */
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(dates[d], 11, "%Y-%m-%d", &tm);
  }
  fputs("Song,Date,Number of Plays\n", stdout);
  for (int d = 0; d < days; d++)
    for (long i = 0; i < songs; i++) {
      const long s = (i * 7919) % songs; /* 7919 is prime: a permutation */
      printf("Song %ld,%s,%ld\n", s, dates[d], (s * 31 + d * 17) % 97 + 1);
    }
  return 0;
}
EOF
  cc -O2 -o "$GRID" "$DATA_DIR/grid.c"
fi
INPUT="$DATA_DIR/grid-$SONGS-$DAYS.csv"
if [ ! -s "$INPUT" ]; then
  log "generating $INPUT"
  "$GRID" "$SONGS" "$DAYS" > "$INPUT.tmp" && mv "$INPUT.tmp" "$INPUT"
fi

SERVE_DIR=$(mktemp -d "$DATA_DIR/songs-serve-XXXXXX")
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$SERVE_DIR"
  [ "$KEEP" = 1 ] || rm -f "$INPUT"
}
trap cleanup EXIT

"$PLAYCOUNT" serve --host 127.0.0.1 --port "$PORT" --data-dir "$SERVE_DIR/data" \
  --log-level warn > "$SERVE_DIR/server.log" 2>&1 &
SERVER_PID=$!
URL="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$URL/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$URL/readyz" >/dev/null || die "the server did not start: $(cat "$SERVE_DIR/server.log")"

log "counting $(du -h "$INPUT" | cut -f1) ($SONGS songs x $DAYS days)"
START=$(date +%s.%N)
ID=$(curl -sf -T "$INPUT" "$URL/jobs/count/" | sed -n 's/.*"jobId":"\([^"]*\)".*/\1/p')
[ -n "$ID" ] || die "the upload was refused"
while :; do
  STATE=$(curl -sf "$URL/jobs/$ID/" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p')
  case "$STATE" in
    finished) break ;;
    failed|canceled) die "the job $STATE: $(curl -s "$URL/jobs/$ID/")" ;;
  esac
  sleep 0.2
done
log "job finished in $(since "$START") s (upload included)"
# The first request opens the index (or, when the job has no summary yet,
# waits for it to be built: 503 meanwhile).
FIRST=$(date +%s.%N)
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/jobs/$ID/summary")" = 200 ]; do sleep 0.1; done
log "first summary answer after $(since "$FIRST") s"
GROUPS_=$(curl -sf "$URL/jobs/$ID/summary" | sed -n 's/.*"groups":\([0-9]*\).*/\1/p')
log "result: $GROUPS_ rows, $(du -h "$SERVE_DIR/data/jobs/$ID/result.csv" | cut -f1), index $(du -h "$SERVE_DIR/data/jobs/$ID/songs.idx" | cut -f1)"

# time_ms KIND PATH: one request's curl time in ms (its status must be 200).
time_ms() {
  local out
  out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$URL$1")
  [ "${out%% *}" = 200 ] || die "GET $1 answered ${out%% *}"
  awk -v t="${out#* }" 'BEGIN { printf "%.3f\n", t * 1000 }'
}
# stats: the median and p99 of the numbers on stdin.
stats() {
  sort -g | awk '{ a[NR] = $1 } END {
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    p = a[int(NR * 0.99 + 0.999)]
    printf "median %.2f ms, p99 %.2f ms (n=%d)", m, p, NR }'
}

SERIES=$(for _ in $(seq "$N"); do time_ms "/jobs/$ID/songs/Song%20$(((RANDOM * 32768 + RANDOM) % SONGS))"; done | stats)
PREFIX=$(for _ in $(seq "$N"); do time_ms "/jobs/$ID/songs?prefix=Song%20$(((RANDOM * 32768 + RANDOM) % SONGS))&limit=20"; done | stats)
echo "songs.sh: $SONGS songs x $DAYS days = $GROUPS_ result rows"
echo "series (one song's rows): $SERIES"
echo "prefix (limit=20):        $PREFIX"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
