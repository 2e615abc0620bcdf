#!/usr/bin/env bash
# A 1 GB upload with `curl -F` over loopback, counted while it arrives (issue
# 13): how fast curl sends it, and how long after curl has its answer the
# result is ready (the job polled every 10 ms). Medians of RUNS runs.
# KINDS="csv gz zst" also uploads the file's gzip -1 and zstd -1 copies
# (decoded as they arrive); the rate is of the bytes sent.
#
# usage: PLAYCOUNT=build/bin/playcount [DATA_DIR=bench/data] [RUNS=5]
#        [KINDS=csv] [PORT=18090] [SERVE_DIR=/tmp] bench/upload.sh
# The input is run.sh's benchmark file (made with bench/gen.c when missing;
# its .gz and .zst copies are made once beside it, as compressed.sh does).
# The server's data directory is made under SERVE_DIR and removed at the end.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
DATA_DIR=${DATA_DIR:-$BENCH_DIR/data}
RUNS=${RUNS:-5}
PORT=${PORT:-18090}
PLAYCOUNT=${PLAYCOUNT:-build/bin/playcount}
log() { echo "== $*" >&2; }
die() { echo "upload.sh: $*" >&2; exit 2; }
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"
command -v curl >/dev/null || die "curl is missing"
case "$PLAYCOUNT" in /*) ;; *) PLAYCOUNT="$PWD/$PLAYCOUNT" ;; esac
[ -x "$PLAYCOUNT" ] || die "no executable at PLAYCOUNT=$PLAYCOUNT"
mkdir -p "$DATA_DIR"; DATA_DIR=$(cd "$DATA_DIR" && pwd)
build_gen
file_shape "${QUICK:-0}"
generated "$ROWS" "$SONGS" "$DAYS" "$SEED" "$QUOTED"
KINDS=${KINDS:-csv}
for kind in $KINDS; do
  case $kind in
  csv) ;;
  gz) [ -s "$FILE.gz" ] || { log "gzip -1 $FILE"; gzip -1 -c "$FILE" > "$FILE.gz.tmp" && mv "$FILE.gz.tmp" "$FILE.gz"; } ;;
  zst) [ -s "$FILE.zst" ] || { log "zstd -1 $FILE"; zstd -q -1 -c "$FILE" > "$FILE.zst.tmp" && mv "$FILE.zst.tmp" "$FILE.zst"; } ;;
  *) die "KINDS takes csv, gz and zst, not $kind" ;;
  esac
done
SERVE=$(mktemp -d "${SERVE_DIR:-/tmp}/playcount-upload-bench-XXXXXX")
"$PLAYCOUNT" serve --port "$PORT" --data-dir "$SERVE/data" > "$SERVE/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$SERVE"' EXIT
URL=http://127.0.0.1:$PORT
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$URL/healthz" >/dev/null || die "the server did not start: $(tail -3 "$SERVE/serve.log")"

now() { date +%s%N; }
log "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
for kind in $KINDS; do
  INPUT=$FILE; [ "$kind" = csv ] || INPUT=$FILE.$kind
  BYTES=$(stat -L -c %s "$INPUT")
  UPLOADS=() READY=() TOTAL=()
  for run in $(seq "$RUNS"); do
    t0=$(now)
    answer=$(curl -sS -H 'Expect:' -F "file=@$INPUT" "$URL/jobs/count/")
    t1=$(now)
    id=$(printf '%s' "$answer" | sed -n 's/.*"jobId":"\([0-9a-f-]*\)".*/\1/p')
    [ -n "$id" ] || die "no job in the answer: $answer"
    until state=$(curl -sS "$URL/jobs/$id/" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p') &&
          [ "$state" = finished ] || [ "$state" = failed ]; do sleep 0.01; done
    t2=$(now)
    [ "$state" = finished ] || die "job $id $state"
    UPLOADS+=("$(awk -v b="$BYTES" -v a="$t0" -v c="$t1" 'BEGIN { printf "%.1f", b / 1e6 / ((c - a) / 1e9) }')")
    READY+=("$(awk -v a="$t1" -v c="$t2" 'BEGIN { printf "%.3f", (c - a) / 1e9 }')")
    TOTAL+=("$(awk -v a="$t0" -v c="$t2" 'BEGIN { printf "%.3f", (c - a) / 1e9 }')")
    log "$kind run $run: upload ${UPLOADS[-1]} MB/s, result ready ${READY[-1]} s after curl's answer, ${TOTAL[-1]} s after its start"
    curl -sS -X DELETE "$URL/jobs/$id/" >/dev/null
  done
  echo "$kind: upload of $BYTES bytes with curl -F: median $(stat_of median "${UPLOADS[@]}") MB/s (min $(stat_of min "${UPLOADS[@]}"), max $(stat_of max "${UPLOADS[@]}"))"
  echo "$kind: result ready after curl's answer: median $(stat_of median "${READY[@]}") s (min $(stat_of min "${READY[@]}"), max $(stat_of max "${READY[@]}"))"
  echo "$kind: result ready after curl's start: median $(stat_of median "${TOTAL[@]}") s (min $(stat_of min "${TOTAL[@]}"), max $(stat_of max "${TOTAL[@]}"))"
done
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
