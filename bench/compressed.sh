#!/usr/bin/env bash
# Compressed and piped input against the plain file, and against DuckDB reading
# the same compressed files (issue 13's targets): playcount count on FILE,
# FILE.zst, `zstd -dc FILE.zst | playcount count - -o -`, FILE.gz (gzip -1);
# DuckDB on FILE.zst and FILE.gz. Medians of RUNS runs, alternating.
#
# usage: PLAYCOUNT=build/bin/playcount [DATA_DIR=bench/data] [RUNS=3] bench/compressed.sh
# The input is run.sh's benchmark file (made with bench/gen.c when missing);
# its .gz and .zst copies are made once beside it (gzip -1, zstd -1).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
DATA_DIR=${DATA_DIR:-$BENCH_DIR/data}
RUNS=${RUNS:-3}
PLAYCOUNT=${PLAYCOUNT:-build/bin/playcount}
log() { echo "== $*" >&2; }
die() { echo "compressed.sh: $*" >&2; exit 2; }
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"
need_tools
for t in gzip zstd node; do command -v $t >/dev/null || die "$t is missing"; done
case "$PLAYCOUNT" in /*) ;; *) PLAYCOUNT="$PWD/$PLAYCOUNT" ;; esac
[ -x "$PLAYCOUNT" ] || die "no executable at PLAYCOUNT=$PLAYCOUNT"
mkdir -p "$DATA_DIR"; DATA_DIR=$(cd "$DATA_DIR" && pwd)
build_gen
file_shape "${QUICK:-0}"
generated "$ROWS" "$SONGS" "$DAYS" "$SEED" "$QUOTED"
PLAIN=$FILE
[ -s "$PLAIN.gz" ] || { log "gzip -1 $PLAIN"; gzip -1 -c "$PLAIN" > "$PLAIN.gz.tmp" && mv "$PLAIN.gz.tmp" "$PLAIN.gz"; }
[ -s "$PLAIN.zst" ] || { log "zstd -1 $PLAIN"; zstd -q -1 -c "$PLAIN" > "$PLAIN.zst.tmp" && mv "$PLAIN.zst.tmp" "$PLAIN.zst"; }
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT

declare -A CMD=(
  [file]="\"$PLAYCOUNT\" count \"$PLAIN\" -o \"$OUT/file.csv\" --quiet"
  [zst]="\"$PLAYCOUNT\" count \"$PLAIN.zst\" -o \"$OUT/zst.csv\" --quiet"
  [zst_pipe]="zstd -dc \"$PLAIN.zst\" | \"$PLAYCOUNT\" count - -o - --quiet > \"$OUT/zst_pipe.csv\""
  [gz]="\"$PLAYCOUNT\" count \"$PLAIN.gz\" -o \"$OUT/gz.csv\" --quiet"
  [duckdb_zst]="node \"$BENCH_DIR/duckdb_groupby.mjs\" \"$PLAIN.zst\" \"$OUT/duckdb_zst.csv\" --header-from \"$PLAIN\""
  [duckdb_gz]="node \"$BENCH_DIR/duckdb_groupby.mjs\" \"$PLAIN.gz\" \"$OUT/duckdb_gz.csv\" --header-from \"$PLAIN\""
  [unzstd]="zstd -dc \"$PLAIN.zst\" > /dev/null"
)
ORDER=(file zst zst_pipe gz duckdb_zst duckdb_gz unzstd)
# The processor time (user + system) of the plain count, of the pipe (zstd
# and the count together) and of zstd's decoding alone: what a pipe costs
# beyond the plain file, and at the least (see what is printed at the end).
CPU_OF=(file zst_pipe unzstd)
declare -A TIMES CPU
log "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$RUNS"); do
  for name in "${ORDER[@]}"; do
    t0=$(date +%s%N)
    if [[ " ${CPU_OF[*]} " == *" $name "* ]]; then
      "$TIME" -o "$OUT/cpu" -f '%U %S' bash -c "${CMD[$name]}" || die "$name failed"
      CPU[$name]+="$(awk '{ printf "%.3f", $1 + $2 }' "$OUT/cpu") "
    else
      bash -c "${CMD[$name]}" || die "$name failed"
    fi
    t1=$(date +%s%N)
    TIMES[$name]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }') "
  done
  log "run $run of $RUNS done"
done
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
for name in zst zst_pipe gz; do
  cmp -s "$OUT/file.csv" "$OUT/$name.csv" || die "$name's result differs from the plain file's"
done
declare -A MED
for name in "${ORDER[@]}"; do
  # shellcheck disable=SC2086
  MED[$name]=$(stat_of median ${TIMES[$name]})
done
printf '%-11s %9s  %s\n' input "median s" "ratio"
printf '%-11s %9s\n' file "${MED[file]}"
for name in zst zst_pipe gz; do
  peer=duckdb_${name%_pipe}
  printf '%-11s %9s  %.2fx the plain file; DuckDB on the same: %s s (%.2fx faster)\n' \
    "$name" "${MED[$name]}" "$(awk -v a="${MED[$name]}" -v b="${MED[file]}" 'BEGIN{print a/b}')" \
    "${MED[$peer]}" "$(awk -v a="${MED[$peer]}" -v b="${MED[$name]}" 'BEGIN{print a/b}')"
done
# On N cores a count that keeps them all busy cannot end before its own
# processor time and the decoder's have been spent: (C + D) / N seconds.
# Against the plain file's time, that is the least ratio a pipe can have.
# shellcheck disable=SC2086
C=$(stat_of median ${CPU[file]}) D=$(stat_of median ${CPU[unzstd]})
# shellcheck disable=SC2086
PIPE_CPU=$(stat_of median ${CPU[zst_pipe]})
CORES=$(nproc)
printf 'zstd -dc alone: %s s of processor time; the plain count: %s s in %s s on %s cores\n' "$D" "$C" "${MED[file]}" "$CORES"
printf 'so zst_pipe cannot take less than %.2fx the plain file here (at best (C + D) / %s cores)\n' \
  "$(awk -v c="$C" -v d="$D" -v w="${MED[file]}" -v n="$CORES" 'BEGIN { b = (c + d) / n; if (b < w) b = w; print b / w }')" "$CORES"
# The pipe's two targets at once (docs/performance.md, "Whether the pipe's
# two targets can hold at once"). The pipe takes E seconds of processor time
# more than the plain file (zstd's, the spool's, less the scan it spares); on
# N busy cores it ends about E / N after where the plain file would, P + E / N.
# Within 1.6x of P needs P >= E / (0.6 N); 3x faster than DuckDB's time T
# needs P <= T / 3 - E / N. Some P meets both only when E <= 0.6 N T / 4.8.
awk -v p="${MED[file]}" -v q="${MED[zst_pipe]}" -v c="$C" -v pc="$PIPE_CPU" \
    -v t="${MED[duckdb_zst]}" -v n="$CORES" 'BEGIN {
  e = pc - c
  printf "the pipe: %.3f s of processor time, E = %.3f s more than the plain file; P + E / %d = %.3f s (measured %.3f s)\n", pc, e, n, p + e / n, q
  lo = e / (0.6 * n); hi = t / 3 - e / n
  # (In parentheses: a bare > among the arguments of printf redirects.)
  printf "both pipe targets hold for a plain count of %.3f to %.3f s (this one: %.3f s)%s\n", lo, hi, p, \
    ((lo > hi) ? ": none, E is over " sprintf("%.3f", 0.6 * n * t / 4.8) " s" : "")
}'
