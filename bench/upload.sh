#!/usr/bin/env bash
# A 1 GB upload with `curl -F` over loopback, counted while it arrives (issue
# 13): how fast curl sends it, and how long after curl has its answer the
# result is ready (the job polled every 10 ms). Medians of RUNS runs.
# Each run first sends the same file to the peer, bench/http_sink.c: the
# least a server that keeps an upload does (its body written to a file, no
# parsing, no job), so that the rate has a ceiling measured on the same
# machine in the same minute.
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
need_tools
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
SINK="$DATA_DIR/http_sink"
if [ ! -x "$SINK" ] || [ "$BENCH_DIR/http_sink.c" -nt "$SINK" ]; then
  log "building the peer: cc -O2 bench/http_sink.c"
  cc -O2 -o "$SINK.tmp" "$BENCH_DIR/http_sink.c" && mv "$SINK.tmp" "$SINK"
fi
SERVE=$(mktemp -d "${SERVE_DIR:-/tmp}/playcount-upload-bench-XXXXXX")
"$PLAYCOUNT" serve --port "$PORT" --data-dir "$SERVE/data" > "$SERVE/serve.log" 2>&1 &
SERVER=$!
"$SINK" $((PORT + 1)) "$SERVE/sink.body" &
SINK_PID=$!
trap 'kill $SERVER $SINK_PID 2>/dev/null; wait $SERVER $SINK_PID 2>/dev/null; rm -rf "$SERVE"' EXIT
URL=http://127.0.0.1:$PORT
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$URL/healthz" >/dev/null || die "the server did not start: $(tail -3 "$SERVE/serve.log")"

now() { date +%s%N; }
# The processor time (user + system, in clock ticks) of process $1 so far.
cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
log "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
for kind in $KINDS; do
  INPUT=$FILE; [ "$kind" = csv ] || INPUT=$FILE.$kind
  BYTES=$(stat -L -c %s "$INPUT")
  UPLOADS=() READY=() TOTAL=() PEER=() CPU=()
  for run in $(seq "$RUNS"); do
    PEER+=("$(curl -sS -o /dev/null -w '%{speed_upload}' -H 'Expect:' -F "file=@$INPUT" "http://127.0.0.1:$((PORT + 1))/" |
              awk '{ printf "%.1f", $1 / 1e6 }')")
    rm -f "$SERVE/sink.body"
    s0=$(cpu_of $SERVER)
    t0=$(now)
    answer=$("$TIME" -o "$SERVE/curl.cpu" -f '%U %S' curl -sS -H 'Expect:' -F "file=@$INPUT" "$URL/jobs/count/")
    t1=$(now)
    id=$(printf '%s' "$answer" | sed -n 's/.*"jobId":"\([0-9a-f-]*\)".*/\1/p')
    [ -n "$id" ] || die "no job in the answer: $answer"
    until state=$(curl -sS "$URL/jobs/$id/" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p') &&
          [ "$state" = finished ] || [ "$state" = failed ]; do sleep 0.01; done
    t2=$(now)
    [ "$state" = finished ] || die "job $id $state"
    CPU+=("$(awk -v a="$s0" -v b="$(cpu_of $SERVER)" -v t="$(getconf CLK_TCK)" '{ printf "%.2f", $1 + $2 + (b - a) / t }' "$SERVE/curl.cpu")")
    UPLOADS+=("$(awk -v b="$BYTES" -v a="$t0" -v c="$t1" 'BEGIN { printf "%.1f", b / 1e6 / ((c - a) / 1e9) }')")
    READY+=("$(awk -v a="$t1" -v c="$t2" 'BEGIN { printf "%.3f", (c - a) / 1e9 }')")
    TOTAL+=("$(awk -v a="$t0" -v c="$t2" 'BEGIN { printf "%.3f", (c - a) / 1e9 }')")
    log "$kind run $run: upload ${UPLOADS[-1]} MB/s (the peer ${PEER[-1]} MB/s), result ready ${READY[-1]} s after curl's answer, ${TOTAL[-1]} s after its start"
    curl -sS -X DELETE "$URL/jobs/$id/" >/dev/null
  done
  echo "$kind: upload of $BYTES bytes with curl -F: median $(stat_of median "${UPLOADS[@]}") MB/s (min $(stat_of min "${UPLOADS[@]}"), max $(stat_of max "${UPLOADS[@]}"))"
  echo "$kind: the same to bench/http_sink.c: median $(stat_of median "${PEER[@]}") MB/s (min $(stat_of min "${PEER[@]}"), max $(stat_of max "${PEER[@]}"))"
  echo "$kind: result ready after curl's answer: median $(stat_of median "${READY[@]}") s (min $(stat_of min "${READY[@]}"), max $(stat_of max "${READY[@]}"))"
  echo "$kind: result ready after curl's start: median $(stat_of median "${TOTAL[@]}") s (min $(stat_of min "${TOTAL[@]}"), max $(stat_of max "${TOTAL[@]}"))"
  # The processor time of curl and the server from curl's start to the
  # result: on N cores no run ends sooner than that over N, so an upload
  # at RATE leaves at least (that over N) - (its time) after curl's answer.
  cpu=$(stat_of median "${CPU[@]}") cores=$(nproc)
  echo "$kind: processor time of curl and the server together: median $cpu s; on $cores cores the result cannot be ready before $(awk -v c="$cpu" -v n="$cores" 'BEGIN { printf "%.2f", c / n }') s after curl's start,"
  echo "$kind:   so an upload at 600 MB/s would leave it at least $(awk -v c="$cpu" -v n="$cores" -v b="$BYTES" 'BEGIN { r = c / n - b / 600e6; if (r < 0) r = 0; printf "%.2f", r }') s after curl's answer"
done
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
