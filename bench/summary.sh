#!/usr/bin/env bash
# What the summary and the song index cost (issue 15's target: at most 5 %
# of a job's time): `playcount count` without them, then with them
# (`--summary-json` and the hidden `--test-song-index`, which a server job
# writes both of), alternating, RUNS times each, on two files:
#   bench    run.sh's benchmark file (40 M rows, 5 000 songs; 1 GB)
#   songs    a file of millions of songs (gen 30000000 2000000 30 1 5:
#            2 M songs, about 29 M song-dates; 1 GB)
# Prints the medians of the wall time and of the processor time (user +
# system: the steadier one on a shared machine) and their ratios.
#
# usage: PLAYCOUNT=build/bin/playcount [DATA_DIR=bench/data] [RUNS=3]
#        [FILES="bench songs"] bench/summary.sh
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
DATA_DIR=${DATA_DIR:-$BENCH_DIR/data}
RUNS=${RUNS:-3}
PLAYCOUNT=${PLAYCOUNT:-build/bin/playcount}
log() { echo "== $*" >&2; }
die() { echo "summary.sh: $*" >&2; exit 2; }
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"
need_tools
case "$PLAYCOUNT" in /*) ;; *) PLAYCOUNT="$PWD/$PLAYCOUNT" ;; esac
[ -x "$PLAYCOUNT" ] || die "no executable at PLAYCOUNT=$PLAYCOUNT"
mkdir -p "$DATA_DIR"; DATA_DIR=$(cd "$DATA_DIR" && pwd)
build_gen
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
log "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
for name in ${FILES:-bench songs}; do
  case $name in
  bench) file_shape 0; generated "$ROWS" "$SONGS" "$DAYS" "$SEED" "$QUOTED" ;;
  songs) generated 30000000 2000000 30 1 5 ;;
  *) die "FILES takes bench and songs, not $name" ;;
  esac
  WALL_OFF=() WALL_ON=() CPU_OFF=() CPU_ON=()
  for run in $(seq "$RUNS"); do
    for with in off on; do
      extra=()
      [ $with = on ] && extra=(--summary-json "$OUT/summary.json" --test-song-index "$OUT/songs.idx")
      t0=$(date +%s%N)
      "$TIME" -o "$OUT/cpu" -f '%U %S' "$PLAYCOUNT" count "$FILE" -o "$OUT/result.csv" --quiet "${extra[@]}" ||
        die "the count of $FILE failed"
      t1=$(date +%s%N)
      wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
      cpu=$(awk '{ printf "%.3f", $1 + $2 }' "$OUT/cpu")
      if [ $with = on ]; then WALL_ON+=("$wall"); CPU_ON+=("$cpu"); else WALL_OFF+=("$wall"); CPU_OFF+=("$cpu"); fi
    done
    log "$name run $run of $RUNS: without ${WALL_OFF[-1]} s (${CPU_OFF[-1]} s CPU), with ${WALL_ON[-1]} s (${CPU_ON[-1]} s CPU)"
  done
  wo=$(stat_of median "${WALL_OFF[@]}") wi=$(stat_of median "${WALL_ON[@]}")
  co=$(stat_of median "${CPU_OFF[@]}") ci=$(stat_of median "${CPU_ON[@]}")
  printf '%s: without %s s (%s s CPU), with the summary and the index %s s (%s s CPU): %+.1f %% wall, %+.1f %% CPU; songs.idx %s bytes\n' \
    "$name" "$wo" "$co" "$wi" "$ci" "$(awk -v a="$wo" -v b="$wi" 'BEGIN { print (b / a - 1) * 100 }')" \
    "$(awk -v a="$co" -v b="$ci" 'BEGIN { print (b / a - 1) * 100 }')" "$(stat -c %s "$OUT/songs.idx")"
done
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
