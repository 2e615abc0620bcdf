# shellcheck shell=bash
# Shared by the benchmark scripts (sourced): the generator, the generated
# input files, and summary statistics. The caller defines log() and sets
# BENCH_DIR and DATA_DIR (an absolute path).

# Builds bench/data/gen from bench/gen.c when missing or older; sets GEN.
build_gen() {
  GEN="$DATA_DIR/gen"
  if [ ! -x "$GEN" ] || [ "$BENCH_DIR/gen.c" -nt "$GEN" ]; then
    command -v cc >/dev/null || { echo "no C compiler (cc) to build the generator" >&2; exit 2; }
    log "building the generator: cc -O2 bench/gen.c"
    cc -O2 -o "$GEN.tmp" "$BENCH_DIR/gen.c" && mv "$GEN.tmp" "$GEN"
  fi
}

# file_shape QUICK: the generator's arguments ROWS SONGS DAYS SEED QUOTED,
# each from the environment if set, else the benchmark file's (about 1 GB)
# or, with QUICK=1, a small file's.
file_shape() {
  if [ "$1" = 1 ]; then
    ROWS=${ROWS:-200000}; SONGS=${SONGS:-1000}; DAYS=${DAYS:-365}; SEED=${SEED:-1}; QUOTED=${QUOTED:-10}
  else
    ROWS=${ROWS:-40000000}; SONGS=${SONGS:-5000}; DAYS=${DAYS:-365}; SEED=${SEED:-1}; QUOTED=${QUOTED:-5}
  fi
}

# generated ROWS SONGS DAYS SEED QUOTED: sets FILE to the generated file,
# made once and then reused.
generated() {
  FILE="$DATA_DIR/plays-$1-$2-$3-$4-$5.csv"
  if [ ! -s "$FILE" ]; then
    log "generating $FILE (gen $*)"
    "$GEN" "$@" > "$FILE.tmp" && mv "$FILE.tmp" "$FILE"
  fi
}

# stat_of median|min|max VALUES...: printed with 3 decimals.
stat_of() {
  local what=$1; shift
  printf '%s\n' "$@" | sort -g | awk -v w="$what" '
    { a[NR] = $1 }
    END {
      if (w == "min") v = a[1]
      else if (w == "max") v = a[NR]
      else v = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
      printf "%.3f", v
    }'
}

# need_tools: GNU time (installed with apt-get when root) and timeout; sets
# TIME. The caller defines log() and die().
need_tools() {
  TIME=/usr/bin/time
  if [ ! -x "$TIME" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "installing GNU time (apt-get install time)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
    fi
    [ -x "$TIME" ] || die "GNU time is missing: sudo apt-get install time"
  fi
  command -v timeout >/dev/null || die "timeout (coreutils) is missing"
}
