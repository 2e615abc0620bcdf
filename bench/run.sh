#!/usr/bin/env bash
# playcount benchmark: `playcount count` against DuckDB on the same generated CSV file.
#
#   bench/run.sh              the benchmark file of the issue (gen 40000000 5000 365 1 5, ~1 GB)
#   bench/run.sh --quick      a small file (~5 MB), 3 runs: smoke test of the kit and the binary
#   bench/run.sh --no-duckdb  playcount only (no peer, no result check): e.g. peak RSS on a big file
#
# Environment (all optional):
#   PLAYCOUNT       binary under test              (default: <repo>/build/bin/playcount)
#   RUNS            timed runs of each program     (default: 5; 3 with --quick)
#   WORKERS         passed as `--workers N`        (default: playcount's own default)
#   RANGE_SIZE      passed as `--range-size BYTES` (default: playcount's own default)
#   DUCKDB_THREADS  DuckDB's `threads` setting     (default: DuckDB's own, all cores)
#   ROWS SONGS DAYS SEED QUOTED   generator arguments (default: 40000000 5000 365 1 5;
#                                 --quick: 200000 1000 365 1 10)
#   DATA_DIR        generated files, outputs, gen  (default: bench/data, git-ignored)
#   CHECK_ORDER=0   skip the first-appearance order check (it reads the input once in node:
#                   about 10 s for the 1 GB file, outside the timed runs)
#   TIMEOUT         seconds before a run is killed and the benchmark fails (default: 300; 0: none)
#   STRICT=1        exit 3 when a target is missed (full-size runs only)
#
# Each run is timed (wall clock) and its peak RSS read with GNU time (`%M`). playcount and
# DuckDB run alternately on the same, page-cached file, so both see the same machine state.
# The outputs of the first pair are compared (compare.mjs: same multiset of
# (song, date, total) rows, and playcount's ordering); a difference stops the run (exit 1).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)

QUICK=0
DUCKDB=1
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --no-duckdb) DUCKDB=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

file_shape "$QUICK"
if [ "$QUICK" = 1 ]; then RUNS=${RUNS:-3}; else RUNS=${RUNS:-5}; fi
PLAYCOUNT=${PLAYCOUNT:-$REPO_ROOT/build/bin/playcount}
WORKERS=${WORKERS:-}
RANGE_SIZE=${RANGE_SIZE:-}
DUCKDB_THREADS=${DUCKDB_THREADS:-}
DATA_DIR=${DATA_DIR:-$BENCH_DIR/data}
STRICT=${STRICT:-0}
CHECK_ORDER=${CHECK_ORDER:-1}
TIMEOUT=${TIMEOUT:-300}

# Targets of the issue (for the 1 GB file).
TARGET_RATIO=0.25
TARGET_RSS_MB=400

die() { echo "run.sh: $*" >&2; exit 2; }
log() { echo "== $*"; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer (got '$RUNS')"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "TIMEOUT must be a number of seconds (got '$TIMEOUT')"

# --- tools ---------------------------------------------------------------------------
need_tools
command -v cc >/dev/null || die "no C compiler (cc) to build the generator"
if [ "$DUCKDB" = 1 ] || [ "$QUICK" = 1 ]; then
  command -v node >/dev/null || die "node is missing (Node 18+ is needed for DuckDB and compare.mjs)"
fi

case "$PLAYCOUNT" in /*) ;; *) PLAYCOUNT="$PWD/$PLAYCOUNT" ;; esac
[ -x "$PLAYCOUNT" ] || die "no executable at PLAYCOUNT=$PLAYCOUNT (build it: make build, or cmake --build build)"

mkdir -p "$DATA_DIR"
DATA_DIR=$(cd "$DATA_DIR" && pwd)

# --- generator and input file (cached) -----------------------------------------------
build_gen
generated "$ROWS" "$SONGS" "$DAYS" "$SEED" "$QUOTED"
INPUT=$FILE
INPUT_BYTES=$(stat -c %s "$INPUT")

# --- DuckDB (npm, once) ----------------------------------------------------------------
if [ "$DUCKDB" = 1 ]; then
  if [ ! -d "$BENCH_DIR/node_modules/@duckdb/node-api" ] ||
     [ "$BENCH_DIR/package.json" -nt "$BENCH_DIR/node_modules/.package-lock.json" ]; then
    log "installing DuckDB (npm, into bench/node_modules)"
    (cd "$BENCH_DIR" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; \
                        else npm install --no-audit --no-fund; fi) >&2
  fi
fi

# --- runs ------------------------------------------------------------------------------
OUT_DIR="$DATA_DIR/out/$(basename "$INPUT" .csv)"
mkdir -p "$OUT_DIR"
PC_OUT="$OUT_DIR/playcount.csv"
DK_OUT="$OUT_DIR/duckdb.csv"

PC_CMD=("$PLAYCOUNT" count "$INPUT" -o "$PC_OUT")
[ -n "$WORKERS" ] && PC_CMD+=(--workers "$WORKERS")
[ -n "$RANGE_SIZE" ] && PC_CMD+=(--range-size "$RANGE_SIZE")
DK_CMD=(node "$BENCH_DIR/duckdb_groupby.mjs" "$INPUT" "$DK_OUT")
[ -n "$DUCKDB_THREADS" ] && DK_CMD+=("$DUCKDB_THREADS")

# measure NAME OUT CMD...: runs CMD once (it must write OUT); sets LAST_SECS (wall clock),
# LAST_KB (peak RSS) and LAST_CPU (user + system CPU seconds).
measure() {
  local name=$1; shift
  local tfile="$OUT_DIR/$name.time" lfile="$OUT_DIR/$name.log"
  local out=$1 t0 t1 rc=0 # out: the output file the command writes
  shift
  rm -f "$out"
  t0=$(date +%s%N)
  "$TIME" -f '%e %M %U %S' -o "$tfile" timeout "$TIMEOUT" "$@" >"$lfile" 2>&1 || rc=$?
  t1=$(date +%s%N)
  if [ "$rc" = 124 ]; then
    echo "run.sh: $name timed out after $TIMEOUT s (TIMEOUT): $*" >&2
    tail -n 20 "$lfile" >&2
    exit 1
  elif [ "$rc" != 0 ]; then
    echo "run.sh: $name failed (exit $rc): $*" >&2
    tail -n 20 "$lfile" >&2
    exit 1
  fi
  if [ ! -s "$out" ]; then
    echo "run.sh: $name exited 0 but wrote no output to $out: $*" >&2
    tail -n 20 "$lfile" >&2
    exit 1
  fi
  LAST_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  LAST_KB=$(awk 'END { print $2 }' "$tfile")
  LAST_CPU=$(awk 'END { printf "%.2f", $3 + $4 }' "$tfile")
}

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
log "machine: $(nproc) cores${cpu:+, $cpu}, $(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM"
log "input:   $INPUT ($(awk -v b="$INPUT_BYTES" 'BEGIN { printf "%.1f MB", b / 1e6 }'), $ROWS rows, $SONGS songs, $DAYS days, ${QUOTED}% quoted songs)"
log "playcount: ${PC_CMD[*]}"
[ "$DUCKDB" = 1 ] && log "duckdb:    ${DK_CMD[*]}"
log "warming the page cache"
cat "$INPUT" > /dev/null
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l >= 0.5) }'; then
  log "load average $load: other work on this machine will skew the timings"
fi

PC_SECS=(); PC_KB=(); PC_CPU=(); DK_SECS=(); DK_KB=(); DK_CPU=()
for ((i = 1; i <= RUNS; i++)); do
  measure playcount "$PC_OUT" "${PC_CMD[@]}"
  PC_SECS+=("$LAST_SECS"); PC_KB+=("$LAST_KB"); PC_CPU+=("$LAST_CPU")
  printf '   run %d/%d  playcount %8.3f s %7.1f MB  (cpu %s s)\n' "$i" "$RUNS" "$LAST_SECS" "$(mb "$LAST_KB")" "$LAST_CPU"
  if [ "$DUCKDB" = 1 ]; then
    measure duckdb "$DK_OUT" "${DK_CMD[@]}"
    DK_SECS+=("$LAST_SECS"); DK_KB+=("$LAST_KB"); DK_CPU+=("$LAST_CPU")
    printf '   run %d/%d  duckdb    %8.3f s %7.1f MB  (cpu %s s)\n' "$i" "$RUNS" "$LAST_SECS" "$(mb "$LAST_KB")" "$LAST_CPU"
    if [ "$i" = 1 ]; then
      cmp_args=("$PC_OUT" "$DK_OUT")
      [ "$CHECK_ORDER" = 1 ] && cmp_args+=(--input "$INPUT")  # first-appearance order: reads the input
      if ! node "$BENCH_DIR/compare.mjs" "${cmp_args[@]}" | sed 's/^/   /'; then
        echo "run.sh: playcount's result differs from DuckDB's (outputs kept in $OUT_DIR)" >&2
        exit 1
      fi
    fi
  elif [ "$QUICK" = 1 ] && [ "$i" = 1 ]; then
    echo "   (--no-duckdb: results not checked)"
  fi
done

# --- summary ---------------------------------------------------------------------------

pc_med=$(stat_of median "${PC_SECS[@]}"); pc_min=$(stat_of min "${PC_SECS[@]}")
pc_rss_kb=$(stat_of max "${PC_KB[@]}")
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
echo
printf '%-10s %5s %10s %10s %10s %14s %14s\n' program runs "median s" "min s" "max s" "peak RSS MB" "median cpu s"
printf '%-10s %5d %10s %10s %10s %14s %14s\n' playcount "$RUNS" "$pc_med" "$pc_min" "$(stat_of max "${PC_SECS[@]}")" "$(mb "$pc_rss_kb")" "$(stat_of median "${PC_CPU[@]}")"
status=0
if [ "$DUCKDB" = 1 ]; then
  dk_med=$(stat_of median "${DK_SECS[@]}"); dk_min=$(stat_of min "${DK_SECS[@]}")
  printf '%-10s %5d %10s %10s %10s %14s %14s\n' duckdb "$RUNS" "$dk_med" "$dk_min" "$(stat_of max "${DK_SECS[@]}")" "$(mb "$(stat_of max "${DK_KB[@]}")")" "$(stat_of median "${DK_CPU[@]}")"
  ratio_med=$(awk -v a="$pc_med" -v b="$dk_med" 'BEGIN { printf "%.3f", a / b }')
  ratio_min=$(awk -v a="$pc_min" -v b="$dk_min" 'BEGIN { printf "%.3f", a / b }')
  ratio_ok=$(awk -v r="$ratio_med" -v t="$TARGET_RATIO" 'BEGIN { print (r <= t) ? "met" : "MISSED" }')
  echo
  echo "time playcount/duckdb: median $ratio_med, min $ratio_min   (target <= $TARGET_RATIO: $ratio_ok)"
  [ "$ratio_ok" = met ] || status=3
fi
rss_ok=$(awk -v k="$pc_rss_kb" -v t="$TARGET_RSS_MB" 'BEGIN { print (k / 1024 <= t) ? "met" : "MISSED" }')
echo "playcount peak RSS:    $(mb "$pc_rss_kb") MB   (target <= $TARGET_RSS_MB MB: $rss_ok)"
[ "$rss_ok" = met ] || status=3
echo "load average at the end: $LOAD_END"
if [ "$QUICK" = 1 ]; then
  echo "(--quick: a small file; the targets apply to the 1 GB file)"
  status=0
fi
if [ "$STRICT" = 1 ]; then exit "$status"; fi
exit 0
