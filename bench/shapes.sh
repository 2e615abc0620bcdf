#!/usr/bin/env bash
# playcount against DuckDB on every shape of play log (bench/shapes.c; bench/README.md, "Shapes").
#
#   bench/shapes.sh                   all shapes, ~1 GB each, RUNS alternating runs of each program
#   bench/shapes.sh --quick           small versions (1/200 of the rows, a few MB): smoke test, ~1 min
#   bench/shapes.sh wide millions     only these shapes (any order)
#   MEMORY_LIMIT=512M bench/shapes.sh millions
#                                     `--memory-limit 512M` for playcount, memory_limit='512MB' for
#                                     DuckDB, and a check that the limit does not change playcount's bytes
#
# Shapes: millions wide quoted daily tiny bench longnames sparse (default: all, in this order).
#
# Environment (all optional):
#   PLAYCOUNT       binary under test                    (default: <repo>/build/bin/playcount)
#   RUNS            alternating runs of each program     (default: 3)
#   MEMORY_LIMIT    K/M/G: see above; skipped with a message when playcount has no --memory-limit
#   WORKERS         passed as `--workers N`              (default: playcount's own)
#   DUCKDB_THREADS  DuckDB's `threads` setting           (default: DuckDB's own, all cores)
#   DATA_DIR        generated files, outputs, logs       (default: bench/data, git-ignored)
#   CHECK_ORDER=0   skip the first-appearance order check (it reads the input once in node)
#   EXACT_MB        outputs up to this size are compared row by row, larger ones by row count
#                   and fingerprint (compare.mjs --fingerprint: tens of millions of rows do not
#                   fit in node's heap as maps)   (default: 200)
#   TIMEOUT         seconds before a run is killed       (default: 600; 120 with --quick)
#   STRICT=1        exit 3 when a target is missed (full size only)
#
# Per shape: the file is generated once (cached in DATA_DIR), read once to warm the page cache,
# then playcount (`count --verbose`) and DuckDB run alternately RUNS times; after the first pair
# compare.mjs checks that the totals agree (and playcount's order). Printed per shape: groups,
# median wall time of each, DuckDB / playcount, peak RSS of each (GNU time %M, the largest over
# the runs), playcount's phases (--verbose of its last run), the load average, and the targets
# of issue 11: playcount >= 5x faster than DuckDB; playcount's peak RSS <= 64 MB + 32 B x groups
# and below DuckDB's (with MEMORY_LIMIT: >= 3x faster than DuckDB under the same limit, peak
# RSS <= 1.25 x the limit, and the same bytes as without the limit).
# At the end: one Markdown table of every shape (also saved in DATA_DIR/shapes-table.md).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)

ALL_SHAPES=(millions wide quoted daily tiny bench longnames sparse)
QUICK=0
SHAPES=()
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "shapes.sh: unknown option: $arg (try --help)" >&2; exit 2 ;;
    *)
      [[ " ${ALL_SHAPES[*]} " == *" $arg "* ]] ||
        { echo "shapes.sh: unknown shape: $arg (shapes: ${ALL_SHAPES[*]})" >&2; exit 2; }
      SHAPES+=("$arg") ;;
  esac
done
[ ${#SHAPES[@]} -gt 0 ] || SHAPES=("${ALL_SHAPES[@]}")

if [ "$QUICK" = 1 ]; then RUNS=${RUNS:-3}; TIMEOUT=${TIMEOUT:-120}; else RUNS=${RUNS:-3}; TIMEOUT=${TIMEOUT:-600}; fi
PLAYCOUNT=${PLAYCOUNT:-$REPO_ROOT/build/bin/playcount}
MEMORY_LIMIT=${MEMORY_LIMIT:-}
WORKERS=${WORKERS:-}
DUCKDB_THREADS=${DUCKDB_THREADS:-}
DATA_DIR=${DATA_DIR:-$BENCH_DIR/data}
CHECK_ORDER=${CHECK_ORDER:-1}
EXACT_MB=${EXACT_MB:-200}
STRICT=${STRICT:-0}

die() { echo "shapes.sh: $*" >&2; exit 2; }
log() { echo "== $*"; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer (got '$RUNS')"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "TIMEOUT must be a number of seconds (got '$TIMEOUT')"
[[ "$EXACT_MB" =~ ^[0-9]+$ ]] || die "EXACT_MB must be a number of MB (got '$EXACT_MB')"

# --- tools ---------------------------------------------------------------------------
need_tools
command -v cc >/dev/null || die "no C compiler (cc) to build the generators"
command -v node >/dev/null || die "node is missing (Node 18+ is needed for DuckDB and compare.mjs)"

case "$PLAYCOUNT" in /*) ;; *) PLAYCOUNT="$PWD/$PLAYCOUNT" ;; esac
[ -x "$PLAYCOUNT" ] || die "no executable at PLAYCOUNT=$PLAYCOUNT (build it: make build, or cmake --build build --target playcount)"

# MEMORY_LIMIT: playcount's K/M/G form, DuckDB's KB/MB/GB form, and the limit in KiB.
LIMIT_KB=
if [ -n "$MEMORY_LIMIT" ]; then
  [[ "$MEMORY_LIMIT" =~ ^([0-9]+)([KkMmGg])$ ]] || die "MEMORY_LIMIT must be a number with K, M or G (got '$MEMORY_LIMIT')"
  num=${BASH_REMATCH[1]}; unit=${BASH_REMATCH[2]^^}
  DUCKDB_LIMIT="${num}${unit}B"
  case "$unit" in K) LIMIT_KB=$num ;; M) LIMIT_KB=$((num * 1024)) ;; G) LIMIT_KB=$((num * 1024 * 1024)) ;; esac
  if ! "$PLAYCOUNT" count --help 2>&1 | grep -q -- '--memory-limit'; then
    echo "shapes.sh: $PLAYCOUNT count has no --memory-limit option (yet): MEMORY_LIMIT=$MEMORY_LIMIT skipped"
    exit 0
  fi
fi

mkdir -p "$DATA_DIR"
DATA_DIR=$(cd "$DATA_DIR" && pwd)

# --- DuckDB (npm, once) ----------------------------------------------------------------
if [ ! -d "$BENCH_DIR/node_modules/@duckdb/node-api" ] ||
   [ "$BENCH_DIR/package.json" -nt "$BENCH_DIR/node_modules/.package-lock.json" ]; then
  log "installing DuckDB (npm, into bench/node_modules)"
  (cd "$BENCH_DIR" && npm ci --no-audit --no-fund) >&2
fi

# --- generators and input files (cached) --------------------------------------------
build_gen  # bench/gen.c, for the `bench` shape (lib.sh)
SHAPES_GEN="$DATA_DIR/shapes"
if [ ! -x "$SHAPES_GEN" ] || [ "$BENCH_DIR/shapes.c" -nt "$SHAPES_GEN" ]; then
  log "building the generator: cc -O2 bench/shapes.c"
  cc -O2 -o "$SHAPES_GEN.tmp" "$BENCH_DIR/shapes.c" -lm && mv "$SHAPES_GEN.tmp" "$SHAPES_GEN"
fi

# shape_file NAME: sets FILE to the shape's generated file (made once, then reused).
shape_file() {
  if [ "$1" = bench ]; then
    if [ "$QUICK" = 1 ]; then generated 200000 1000 365 1 10; else generated 40000000 5000 365 1 5; fi
    return
  fi
  local rows=0 suffix=""
  if [ "$QUICK" = 1 ]; then
    rows=$(( $("$SHAPES_GEN" --list | awk -v s="$1" '$1 == s { print $2 }') / 200 ))
    suffix="-quick"
  fi
  FILE="$DATA_DIR/shape-$1$suffix.csv"
  if [ ! -s "$FILE" ] || [ "$SHAPES_GEN" -nt "$FILE" ]; then
    log "generating $FILE (shapes $1${suffix:+ $rows})"
    "$SHAPES_GEN" "$1" "$rows" > "$FILE.tmp" && mv "$FILE.tmp" "$FILE"
  fi
}

# measure NAME OUT CMD...: runs CMD once (it must write OUT); sets LAST_SECS (wall clock) and
# LAST_KB (peak RSS) and LAST_CPU (user + system seconds: on a busy machine they move less than
# the wall time). The run's stdout/stderr stay in $OUT_DIR/NAME.log.
measure() {
  local name=$1 out=$2; shift 2
  local tfile="$OUT_DIR/$name.time" lfile="$OUT_DIR/$name.log" t0 t1 rc=0
  rm -f "$out"
  t0=$(date +%s%N)
  "$TIME" -f '%e %M %U %S' -o "$tfile" timeout "$TIMEOUT" "$@" >"$lfile" 2>&1 || rc=$?
  t1=$(date +%s%N)
  if [ "$rc" != 0 ] || [ ! -s "$out" ]; then
    if [ "$rc" = 124 ]; then echo "shapes.sh: $name timed out after $TIMEOUT s (TIMEOUT): $*" >&2
    elif [ "$rc" != 0 ]; then echo "shapes.sh: $name failed (exit $rc): $*" >&2
    else echo "shapes.sh: $name exited 0 but wrote no output to $out: $*" >&2; fi
    tail -n 20 "$lfile" >&2
    return 1
  fi
  LAST_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  LAST_KB=$(awk 'END { print $2 }' "$tfile")
  LAST_CPU=$(awk 'END { printf "%.2f", $3 + $4 }' "$tfile")
}

mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
# human_mb KB: "72 MB" or "3.3 GB" (the issue's table).
human_mb() { awk -v k="$1" 'BEGIN { if (k >= 1048576) printf "%.1f GB", k / 1048576; else printf "%.0f MB", k / 1024 }'; }
groups_human() { awk -v g="$1" 'BEGIN { if (g >= 1e6) printf "%.1f M", g / 1e6; else if (g >= 1e4) printf "%.0f k", g / 1e3; else printf "%d", g }'; }

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
commit=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
log "machine: $(nproc) cores${cpu:+, $cpu}, $(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM; $(date -u '+%Y-%m-%d %H:%M UTC'); commit $commit"
log "playcount: $PLAYCOUNT count IN -o OUT --verbose${WORKERS:+ --workers $WORKERS}${MEMORY_LIMIT:+ --memory-limit $MEMORY_LIMIT}"
log "duckdb:    node bench/duckdb_groupby.mjs IN OUT${DUCKDB_THREADS:+ $DUCKDB_THREADS}${MEMORY_LIMIT:+ --memory-limit $DUCKDB_LIMIT}"
QUICK_NOTE=; QUICK_SUFFIX=
if [ "$QUICK" = 1 ]; then QUICK_NOTE=', --quick (small files: the targets are for ~1 GB)'; QUICK_SUFFIX=-quick; fi
log "runs: $RUNS of each, alternating; shapes: ${SHAPES[*]}$QUICK_NOTE"

ROWS_MD=()
STATUS=0
FAILED=0
for shape in "${SHAPES[@]}"; do
  echo
  shape_file "$shape"
  INPUT=$FILE
  OUT_DIR="$DATA_DIR/out/shapes/$(basename "$INPUT" .csv)${MEMORY_LIMIT:+-limit-$MEMORY_LIMIT}"
  mkdir -p "$OUT_DIR"
  PC_OUT="$OUT_DIR/playcount.csv"
  DK_OUT="$OUT_DIR/duckdb.csv"
  PC_CMD=("$PLAYCOUNT" count "$INPUT" -o "$PC_OUT" --verbose --quiet)
  [ -n "$WORKERS" ] && PC_CMD+=(--workers "$WORKERS")
  [ -n "$MEMORY_LIMIT" ] && PC_CMD+=(--memory-limit "$MEMORY_LIMIT")
  DK_CMD=(node "$BENCH_DIR/duckdb_groupby.mjs" "$INPUT" "$DK_OUT")
  [ -n "$DUCKDB_THREADS" ] && DK_CMD+=("$DUCKDB_THREADS")
  [ -n "$MEMORY_LIMIT" ] && DK_CMD+=(--memory-limit "$DUCKDB_LIMIT")

  log "$shape: $INPUT ($(awk -v b="$(stat -c %s "$INPUT")" 'BEGIN { printf "%.0f MB", b / 1e6 }'))"
  cat "$INPUT" > /dev/null  # warm the page cache
  load_start=$(cut -d' ' -f1 /proc/loadavg)

  PC_SECS=(); PC_KB=(); PC_CPU=(); DK_SECS=(); DK_KB=(); DK_CPU=(); ok=1
  for ((i = 1; i <= RUNS; i++)); do
    if ! measure playcount "$PC_OUT" "${PC_CMD[@]}"; then ok=0; break; fi
    PC_SECS+=("$LAST_SECS"); PC_KB+=("$LAST_KB"); PC_CPU+=("$LAST_CPU")
    printf '   run %d/%d  playcount %8.3f s %7s MB  (cpu %s s)\n' "$i" "$RUNS" "$LAST_SECS" "$(mb "$LAST_KB")" "$LAST_CPU"
    if ! measure duckdb "$DK_OUT" "${DK_CMD[@]}"; then ok=0; break; fi
    DK_SECS+=("$LAST_SECS"); DK_KB+=("$LAST_KB"); DK_CPU+=("$LAST_CPU")
    printf '   run %d/%d  duckdb    %8.3f s %7s MB  (cpu %s s)\n' "$i" "$RUNS" "$LAST_SECS" "$(mb "$LAST_KB")" "$LAST_CPU"
    if [ "$i" = 1 ]; then
      cmp_args=("$PC_OUT" "$DK_OUT")
      [ "$CHECK_ORDER" = 1 ] && cmp_args+=(--input "$INPUT")
      [ "$(stat -c %s "$PC_OUT")" -gt $((EXACT_MB * 1000000)) ] && cmp_args+=(--fingerprint)
      if ! node --max-old-space-size=8192 "$BENCH_DIR/compare.mjs" "${cmp_args[@]}" 2>&1 | sed 's/^/   /'; then
        echo "shapes.sh: $shape: playcount's result differs from DuckDB's (outputs kept in $OUT_DIR)" >&2
        ok=0; break
      fi
      cp "$OUT_DIR/playcount.log" "$OUT_DIR/playcount-first.log"
    fi
  done
  # Under a memory limit the bytes must be those of a run without one (one run, timed for
  # reference: the cost of the limit).
  if [ "$ok" = 1 ] && [ -n "$MEMORY_LIMIT" ]; then
    unlimited_cmd=("$PLAYCOUNT" count "$INPUT" -o "$OUT_DIR/playcount-unlimited.csv" --quiet)
    [ -n "$WORKERS" ] && unlimited_cmd+=(--workers "$WORKERS")
    if measure playcount-unlimited "$OUT_DIR/playcount-unlimited.csv" "${unlimited_cmd[@]}" &&
       cmp -s "$PC_OUT" "$OUT_DIR/playcount-unlimited.csv"; then
      printf '   without --memory-limit (one run): playcount %8.3f s %7s MB  (cpu %s s)\n' \
        "$LAST_SECS" "$(mb "$LAST_KB")" "$LAST_CPU"
      echo "   same bytes with and without --memory-limit $MEMORY_LIMIT"
    else
      echo "shapes.sh: $shape: playcount's result under --memory-limit $MEMORY_LIMIT differs from its result without (kept in $OUT_DIR)" >&2
      ok=0
    fi
    rm -f "$OUT_DIR/playcount-unlimited.csv"
  fi
  load_end=$(cut -d' ' -f1 /proc/loadavg)
  if [ "$ok" = 0 ]; then
    FAILED=1
    ROWS_MD+=("| $shape | | failed | | | | | see $OUT_DIR | | $load_start–$load_end |")
    continue
  fi

  # Groups: from playcount's --verbose line when it prints one, else the output's lines.
  phases=$(tr '\r' '\n' < "$OUT_DIR/playcount.log" | grep -E '[0-9]+ groups' | tail -n 1 || true)
  groups=$(sed -nE 's/.* ([0-9]+) groups.*/\1/p' <<<"$phases")
  [ -n "$groups" ] || groups=$(( $(wc -l < "$PC_OUT") - 1 ))
  pc_med=$(stat_of median "${PC_SECS[@]}"); dk_med=$(stat_of median "${DK_SECS[@]}")
  pc_kb=$(stat_of max "${PC_KB[@]}"); dk_kb=$(stat_of max "${DK_KB[@]}")
  pc_kb=${pc_kb%.*}; dk_kb=${dk_kb%.*}
  ratio=$(awk -v a="$pc_med" -v b="$dk_med" 'BEGIN { printf "%.2f", b / a }')
  if [ -n "$MEMORY_LIMIT" ]; then
    need_ratio=3; rss_cap_kb=$((LIMIT_KB * 5 / 4))
    rss_rule="<= 1.25 x $MEMORY_LIMIT = $(mb "$rss_cap_kb") MB"
  else
    need_ratio=5; rss_cap_kb=$(awk -v g="$groups" 'BEGIN { printf "%d", 64 * 1024 + 32 * g / 1024 }')
    rss_rule="<= 64 MB + 32 B x groups = $(mb "$rss_cap_kb") MB"
  fi
  missed=()
  awk -v r="$ratio" -v n="$need_ratio" 'BEGIN { exit !(r >= n) }' || missed+=("speed")
  [ "$pc_kb" -le "$rss_cap_kb" ] || missed+=("RSS cap")
  [ "$pc_kb" -lt "$dk_kb" ] || missed+=("RSS above DuckDB's")
  verdict=met
  if [ ${#missed[@]} -gt 0 ]; then
    verdict="**missed**: ${missed[0]}"
    for m in "${missed[@]:1}"; do verdict+=", $m"; done
    STATUS=3
  fi

  pc_cpu=$(stat_of median "${PC_CPU[@]}"); dk_cpu=$(stat_of median "${DK_CPU[@]}")
  echo "   groups $groups; median playcount $pc_med s, DuckDB $dk_med s: DuckDB / playcount ${ratio}x (target >= ${need_ratio}x)"
  echo "   median CPU seconds playcount $pc_cpu, DuckDB $dk_cpu: DuckDB / playcount $(awk -v a="$pc_cpu" -v b="$dk_cpu" 'BEGIN { printf "%.2f", (a > 0) ? b / a : 0 }')x"
  echo "   peak RSS playcount $(mb "$pc_kb") MB (target $rss_rule, and below DuckDB's), DuckDB $(mb "$dk_kb") MB"
  [ -n "$phases" ] && echo "   playcount --verbose (last run): $phases"
  echo "   load average $load_start at the start, $load_end at the end; targets: $verdict"
  fmt_ratio=$ratio; [[ " ${missed[*]} " == *" speed "* ]] && fmt_ratio="**$ratio×**" || fmt_ratio="$ratio×"
  ROWS_MD+=("| $shape | $(groups_human "$groups") | $pc_med s | $dk_med s | $fmt_ratio | $(human_mb "$pc_kb") | $(human_mb "$dk_kb") | $verdict | $pc_cpu / $dk_cpu | $load_start–$load_end |")
done

# --- the table --------------------------------------------------------------------------
TABLE="$DATA_DIR/shapes-table${MEMORY_LIMIT:+-limit-$MEMORY_LIMIT}$QUICK_SUFFIX.md"
{
  echo
  echo "$(date -u '+%Y-%m-%d'), commit $commit, $(nproc) cores; medians of $RUNS alternating runs$QUICK_NOTE${MEMORY_LIMIT:+; playcount --memory-limit $MEMORY_LIMIT, DuckDB memory_limit='$DUCKDB_LIMIT'}:"
  echo
  echo "| shape | groups | playcount | DuckDB | DuckDB / playcount | RSS playcount | RSS DuckDB | targets | CPU s playcount / DuckDB | load |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS_MD[@]}"
} | tee "$TABLE"
echo
echo "(saved in $TABLE)"

[ "$FAILED" = 1 ] && exit 1
[ "$QUICK" = 1 ] && exit 0
[ "$STRICT" = 1 ] && exit "$STATUS"
exit 0
