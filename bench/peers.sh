#!/usr/bin/env bash
# playcount against all its peers: DuckDB, Polars, pandas (the 1 GB file) and the old
# service's algorithm (a small file: it makes one Dask query per (song, date) pair).
#
#   bench/peers.sh              the 1 GB file (gen 40000000 5000 365 1 5), then the old service
#   bench/peers.sh --quick      a ~5 MB file instead of the 1 GB one (smoke test), 1 run
#   bench/peers.sh --no-old     skip the old service
#   bench/peers.sh --old-only   only the old service (and playcount) on the small file
#
# Peers (a missing one is reported and skipped; see bench/README.md):
#   duckdb   node duckdb_groupby.mjs    npm @duckdb/node-api  (cd bench && npm ci)
#   polars   node polars_groupby.mjs    npm nodejs-polars     (cd bench && npm ci)
#   pandas   pandas_groupby.py          Debian python3-pandas (apt-get install python3-pandas)
#   old      old_service.py             Debian python3-dask   (apt-get install python3-dask)
#
# Environment (all optional):
#   PLAYCOUNT    binary under test                 (default: <repo>/build/bin/playcount)
#   RUNS         timed runs of each program        (default: 3; 1 with --quick)
#   PEERS        peers on the big file, in order   (default: "duckdb polars pandas")
#   DATA_DIR     generated files, outputs, gen     (default: bench/data, git-ignored);
#                each run's output, log and time line stay in DATA_DIR/out/<file>/peers/
#   PYTHON       interpreter with Debian's pandas and dask (default: /usr/bin/python3)
#   CHECK_ORDER  0 skips the first-appearance order check of playcount's output (default: 1;
#                it reads the input once in node, ~10 s for 1 GB, outside the timed runs)
#   TIMEOUT      seconds before a run on the big file is killed (default: 300; 0: none)
#   ROWS SONGS DAYS SEED QUOTED   big file (default: 40000000 5000 365 1 5;
#                                 --quick: 200000 1000 365 1 10)
#   OLD_ROWS OLD_SONGS OLD_DAYS   the old service's file (default: 100000 20 30, with
#                                 SEED 1 and QUOTED 5: 2.6 MB, 600 (song, date) groups)
#   OLD_RUNS     runs of the old service           (default: 1; ~20-30 s each)
#   OLD_TIMEOUT  seconds before the old service is killed (default: 1800; 0: none)
#
# Big file: playcount and the peers run alternately (playcount, duckdb, polars, pandas,
# playcount, ...) on the same page-cached file, RUNS times; each run's wall time (date +%s%N)
# and peak RSS (GNU time %M) are kept. After each peer's first run its output is checked
# against playcount's with compare.mjs (same multiset of (song, date, total) rows: the peers
# order by song name, playcount by first appearance). Printed: median / min / max, peak RSS,
# median CPU, and each peer's median divided by playcount's; the load average at the start
# and the end (2-core machine: other work shows in the timings).
# Small file: playcount (RUNS times) and the old service (OLD_RUNS times), checked the same
# way; printed: median time and rows per second.
# Exit status: 0 all done and agreeing, 1 a run failed, timed out or a result differs (the
# other peers still run), 2 usage or set-up error. A peer that is not installed is skipped
# with a message, not an error.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)

QUICK=0
BIG=1
OLD=1
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --no-old) OLD=0 ;;
    --old-only) BIG=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "peers.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

file_shape "$QUICK"
if [ "$QUICK" = 1 ]; then RUNS=${RUNS:-1}; else RUNS=${RUNS:-3}; fi
OLD_ROWS=${OLD_ROWS:-100000}; OLD_SONGS=${OLD_SONGS:-20}; OLD_DAYS=${OLD_DAYS:-30}
OLD_RUNS=${OLD_RUNS:-1}
PLAYCOUNT=${PLAYCOUNT:-$REPO_ROOT/build/bin/playcount}
PEERS=${PEERS:-duckdb polars pandas}
DATA_DIR=${DATA_DIR:-$BENCH_DIR/data}
PYTHON=${PYTHON:-/usr/bin/python3}
CHECK_ORDER=${CHECK_ORDER:-1}
TIMEOUT=${TIMEOUT:-300}
OLD_TIMEOUT=${OLD_TIMEOUT:-1800}

die() { echo "peers.sh: $*" >&2; exit 2; }
log() { echo "== $*"; }

for v in RUNS OLD_RUNS; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
for v in TIMEOUT OLD_TIMEOUT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a number of seconds (got '${!v}')"
done
for p in $PEERS; do
  case "$p" in duckdb|polars|pandas) ;; *) die "unknown peer in PEERS: $p (duckdb, polars, pandas)" ;; esac
done

# --- tools -------------------------------------------------------------------------------
TIME=/usr/bin/time
[ -x "$TIME" ] || die "GNU time is missing: apt-get install time"
command -v timeout >/dev/null || die "timeout (coreutils) is missing"
command -v node >/dev/null || die "node is missing (Node 20+: compare.mjs and the npm peers)"
case "$PLAYCOUNT" in /*) ;; *) PLAYCOUNT="$PWD/$PLAYCOUNT" ;; esac
[ -x "$PLAYCOUNT" ] || die "no executable at PLAYCOUNT=$PLAYCOUNT (build it: make build, or cmake --build build)"

# have PEER: is the peer installed? (prints why not, once, when it is not)
have() {
  local why=""
  case "$1" in
    duckdb|polars)
      local pkg=@duckdb/node-api; [ "$1" = polars ] && pkg=nodejs-polars
      (cd "$BENCH_DIR" && node -e "require('$pkg')") >/dev/null 2>&1 ||
        why="npm package $pkg does not load from bench/node_modules (install: cd bench && npm ci)" ;;
    pandas)
      "$PYTHON" -c 'import pandas' >/dev/null 2>&1 ||
        why="$PYTHON cannot import pandas (install: apt-get install python3-pandas)" ;;
    old)
      "$PYTHON" -c 'import dask.dataframe' >/dev/null 2>&1 ||
        why="$PYTHON cannot import dask.dataframe (install: apt-get install python3-dask)" ;;
  esac
  if [ -n "$why" ]; then echo "peers.sh: $1 skipped: $why" >&2; return 1; fi
}

mkdir -p "$DATA_DIR"
DATA_DIR=$(cd "$DATA_DIR" && pwd)
build_gen

# --- measuring ---------------------------------------------------------------------------
# cmd_of NAME IN OUT: sets CMD to the command line of NAME reading IN and writing OUT.
cmd_of() {
  case "$1" in
    playcount) CMD=("$PLAYCOUNT" count "$2" -o "$3") ;;
    duckdb) CMD=(node "$BENCH_DIR/duckdb_groupby.mjs" "$2" "$3") ;;
    polars) CMD=(node "$BENCH_DIR/polars_groupby.mjs" "$2" "$3") ;;
    pandas) CMD=("$PYTHON" "$BENCH_DIR/pandas_groupby.py" "$2" "$3") ;;
    old) CMD=("$PYTHON" "$BENCH_DIR/old_service.py" "$2" "$3") ;;
  esac
}

# measure NAME IN OUT_DIR LIMIT: runs NAME once; 0 and LAST_SECS (wall clock), LAST_KB (peak
# RSS), LAST_CPU (user + system CPU s) when it succeeded and wrote its output, else 1.
measure() {
  local name=$1 in=$2 dir=$3 limit=$4 t0 t1 rc=0
  local out="$dir/$name.csv" tfile="$dir/$name.time" lfile="$dir/$name.log"
  cmd_of "$name" "$in" "$out"
  rm -f "$out"
  t0=$(date +%s%N)
  "$TIME" -f '%e %M %U %S' -o "$tfile" timeout "$limit" "${CMD[@]}" >"$lfile" 2>&1 || rc=$?
  t1=$(date +%s%N)
  if [ "$rc" = 124 ]; then
    echo "peers.sh: $name timed out after $limit s: ${CMD[*]}" >&2
  elif [ "$rc" != 0 ]; then
    echo "peers.sh: $name failed (exit $rc): ${CMD[*]}" >&2
  elif [ ! -s "$out" ]; then
    echo "peers.sh: $name exited 0 but wrote no output to $out: ${CMD[*]}" >&2
    rc=1
  fi
  if [ "$rc" != 0 ]; then tail -n 20 "$lfile" | sed 's/^/   | /' >&2; return 1; fi
  LAST_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  LAST_KB=$(awk 'END { print $2 }' "$tfile")
  LAST_CPU=$(awk 'END { printf "%.2f", $3 + $4 }' "$tfile")
}

# check NAME IN OUT_DIR ORDER: compares NAME's output with playcount's (ORDER=1: also
# playcount's first-appearance order, reading IN).
check() {
  local args=("$3/playcount.csv" "$3/$1.csv" --peer "$1")
  [ "$4" = 1 ] && args+=(--input "$2")
  if node "$BENCH_DIR/compare.mjs" "${args[@]}" 2>&1 | sed 's/^/   /'; [ "${PIPESTATUS[0]}" = 0 ]; then
    return 0
  fi
  echo "peers.sh: the $1 result differs from playcount's (outputs kept in $3)" >&2
  return 1
}

mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# Results per program: space-separated lists (bash 4 associative arrays).
declare -A SECS KB CPU FAILED
record() { SECS[$1]+="$LAST_SECS "; KB[$1]+="$LAST_KB "; CPU[$1]+="$LAST_CPU "; }
STATUS=0

# summary TITLE ROWS PROGRAMS...: the table of medians; ratio column against playcount.
summary() {
  local title=$1 rows=$2; shift 2
  local pc_med="" p med
  echo
  echo "$title"
  printf '%-10s %5s %9s %9s %9s %12s %13s %13s %13s\n' program runs "median s" "min s" "max s" \
    "peak RSS MB" "median cpu s" "rows/s" "x playcount"
  for p in "$@"; do
    if [ -n "${FAILED[$p]:-}" ] || [ -z "${SECS[$p]:-}" ]; then
      printf '%-10s %s\n' "$p" "${FAILED[$p]:-not run}"; continue
    fi
    # shellcheck disable=SC2086
    med=$(stat_of median ${SECS[$p]})
    [ "$p" = playcount ] && pc_med=$med
    # shellcheck disable=SC2086
    printf '%-10s %5d %9s %9s %9s %12s %13s %13s %13s\n' "$p" "$(wc -w <<<"${SECS[$p]}")" "$med" \
      "$(stat_of min ${SECS[$p]})" "$(stat_of max ${SECS[$p]})" "$(mb "$(stat_of max ${KB[$p]})")" \
      "$(stat_of median ${CPU[$p]})" \
      "$(awk -v r="$rows" -v s="$med" 'BEGIN { printf "%.0f", r / s }')" \
      "$(if [ -n "$pc_med" ]; then awk -v a="$med" -v b="$pc_med" 'BEGIN { printf "%.2f", a / b }'; else echo -; fi)"
  done
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
log "machine: $(nproc) cores${cpu:+, $cpu}, $(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM"
log "playcount: $PLAYCOUNT ($("$PLAYCOUNT" --version 2>/dev/null || echo '?'))"
log "load average at the start: $(loadavg)"

# --- the big file: playcount and the peers, alternately ------------------------------------
if [ "$BIG" = 1 ]; then
  ACTIVE=()
  for p in $PEERS; do have "$p" && ACTIVE+=("$p"); done
  generated "$ROWS" "$SONGS" "$DAYS" "$SEED" "$QUOTED"; INPUT=$FILE
  OUT_DIR="$DATA_DIR/out/$(basename "$INPUT" .csv)/peers" # apart from run.sh's outputs
  mkdir -p "$OUT_DIR"
  log "input: $INPUT ($(awk -v b="$(stat -c %s "$INPUT")" 'BEGIN { printf "%.1f MB", b / 1e6 }'), $ROWS rows, $SONGS songs, $DAYS days, ${QUOTED}% quoted songs)"
  for p in playcount "${ACTIVE[@]}"; do cmd_of "$p" "$INPUT" "$OUT_DIR/$p.csv"; log "$p: ${CMD[*]}"; done
  [ "${#ACTIVE[@]}" = 0 ] && echo "peers.sh: no peer installed: playcount runs alone" >&2
  log "warming the page cache"
  cat "$INPUT" > /dev/null
  order=$CHECK_ORDER # the order check reads the input: once is enough
  for ((i = 1; i <= RUNS; i++)); do
    printf '   run %d/%d (load %s)\n' "$i" "$RUNS" "$(loadavg)"
    for p in playcount "${ACTIVE[@]}"; do
      [ -n "${FAILED[$p]:-}" ] && continue
      if [ "$p" != playcount ] && [ -n "${FAILED[playcount]:-}" ]; then continue; fi
      if ! measure "$p" "$INPUT" "$OUT_DIR" "$TIMEOUT"; then
        FAILED[$p]="failed (see $OUT_DIR/$p.log)"; STATUS=1; continue
      fi
      record "$p"
      printf '   %-10s %8.3f s %7s MB  (cpu %s s)\n' "$p" "$LAST_SECS" "$(mb "$LAST_KB")" "$LAST_CPU"
      if [ "$i" = 1 ] && [ "$p" != playcount ]; then
        if check "$p" "$INPUT" "$OUT_DIR" "$order"; then order=0
        else FAILED[$p]="result differs from playcount's (see $OUT_DIR)"; STATUS=1; fi
      fi
    done
  done
  summary "$(basename "$INPUT") ($ROWS rows), $RUNS alternating runs; load average at the end: $(loadavg)" \
    "$ROWS" playcount "${ACTIVE[@]}"
fi

# --- the old service: its own small file -----------------------------------------------------
if [ "$OLD" = 1 ] && have old; then
  generated "$OLD_ROWS" "$OLD_SONGS" "$OLD_DAYS" 1 5; SMALL=$FILE
  SOUT="$DATA_DIR/out/$(basename "$SMALL" .csv)/peers"
  mkdir -p "$SOUT"
  echo
  log "old service on $SMALL ($(awk -v b="$(stat -c %s "$SMALL")" 'BEGIN { printf "%.1f MB", b / 1e6 }'), $OLD_ROWS rows, $OLD_SONGS songs x $OLD_DAYS days)"
  cmd_of old "$SMALL" "$SOUT/old.csv"; log "old: ${CMD[*]}"
  cat "$SMALL" > /dev/null
  unset 'SECS[playcount]' 'KB[playcount]' 'CPU[playcount]' 'FAILED[playcount]'
  for ((i = 1; i <= RUNS; i++)); do
    if measure playcount "$SMALL" "$SOUT" "$TIMEOUT"; then record playcount
    else FAILED[playcount]="failed (see $SOUT/playcount.log)"; STATUS=1; break; fi
  done
  if [ -z "${FAILED[playcount]:-}" ]; then
    for ((i = 1; i <= OLD_RUNS; i++)); do
      printf '   old run %d/%d (load %s)\n' "$i" "$OLD_RUNS" "$(loadavg)"
      if ! measure old "$SMALL" "$SOUT" "$OLD_TIMEOUT"; then
        FAILED[old]="failed (see $SOUT/old.log)"; STATUS=1; break
      fi
      record old
      printf '   %-10s %8.3f s %7s MB  (cpu %s s)  %s\n' old "$LAST_SECS" "$(mb "$LAST_KB")" "$LAST_CPU" "$(tail -n 1 "$SOUT/old.log")"
      if [ "$i" = 1 ] && ! check old "$SMALL" "$SOUT" "$CHECK_ORDER"; then
        FAILED[old]="result differs from playcount's (see $SOUT)"; STATUS=1; break
      fi
    done
  fi
  groups=$(($(wc -l < "$SOUT/playcount.csv" 2>/dev/null || echo 1) - 1))
  summary "$(basename "$SMALL") ($OLD_ROWS rows, $groups groups); load average at the end: $(loadavg)" \
    "$OLD_ROWS" playcount old
fi
exit "$STATUS"
