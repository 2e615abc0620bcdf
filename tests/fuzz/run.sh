#!/usr/bin/env bash
# Runs each libFuzzer target of tests/fuzz for a bounded time (make fuzz).
#   tests/fuzz/run.sh BUILD_DIR SECONDS TARGET...
# With FUZZ_SEED (make test sets 1) each target runs a fixed number of inputs
# from that seed: the same inputs on every machine, so CI is not red by luck;
# SECONDS still caps each target. FUZZ_SEED=0 explores afresh for SECONDS.
# New inputs go to BUILD_DIR/fuzz-corpus/<target> (the repository's corpus is
# read, never written); a crashing input goes to BUILD_DIR/fuzz-artifacts/.
# JOBS (default 1) targets run at a time.
# Exit status: non-zero when a target found a crash, with what to do next.
set -euo pipefail
build=$1 seconds=$2
shift 2
src=$(cd "$(dirname "$0")" && pwd)

# Inputs longer than these only slow a target down: a CSV file of 1 KiB
# already spans many ranges of every size the target tries.
# Inputs per target with a fixed seed: 30-45 s each on the 2-core machine
# (a regression check in CI; FUZZ_SEED=0 is the place to explore).
seeded_runs() {
  case $1 in
    csv_ranges) echo 10000 ;;
    multipart) echo 500000 ;;
    multipart_stream) echo 200000 ;;
    partial_bytes) echo 500000 ;;
    group_store) echo 8000 ;;
    song_index) echo 12000 ;;
    *) echo 1000000 ;;
  esac
}

max_len() {
  case $1 in
    csv_ranges) echo 1024 ;;
    multipart | multipart_stream) echo 4096 ;;
    group_store) echo 1024 ;;
    song_index) echo 1024 ;; # a header and a dozen records with their names
    *) echo 256 ;;
  esac
}

# One target; prints one line, or the failure with what to do next.
run_target() {
  local target=$1
  work=$build/fuzz-corpus/$target
  artifacts=$build/fuzz-artifacts/$target
  log=$build/fuzz-logs/$target.log
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  args=(-max_total_time="$seconds" -max_len="$(max_len "$target")"
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/")
  [[ -f $src/$target.dict ]] && args+=(-dict="$src/$target.dict")
  if [[ ${FUZZ_SEED:-0} != 0 ]]; then
    # A fresh work corpus too: what earlier runs found changes the inputs.
    rm -rf "$work" && mkdir -p "$work"
    args+=(-seed="$FUZZ_SEED" -runs="$(seeded_runs "$target")")
  fi
  local start=$SECONDS
  if "$build/bin/fuzz_$target" "${args[@]}" "$work" "$src/corpus/$target" \
       >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz_$target: ${runs:-?} inputs in $((SECONDS - start)) s, no failure"
  else
    echo "fuzz_$target FAILED after $((SECONDS - start)) s; its log:"
    grep -v -E '^#[0-9]+.*(NEW|REDUCE|pulse)' "$log" | tail -n 60
    for crash in "$artifacts"/*; do
      [[ -e $crash ]] || continue
      echo "input: $crash"
      echo "  replay: $build/bin/fuzz_$target $crash"
      echo "  once fixed, keep it: cp $crash tests/fuzz/corpus/$target/regression-<what>"
    done
    return 1
  fi
}

# JOBS targets at a time (a libFuzzer process uses one core); each target's
# lines are printed in order once all have ended; any failure fails the run.
parallel=${JOBS:-1}
mkdir -p "$build/fuzz-logs"
for target in "$@"; do
  while (($(jobs -rp | wc -l) >= parallel)); do wait -n || true; done
  summary=$build/fuzz-logs/$target.summary
  (run_target "$target" && echo ok || echo failed) >"$summary" 2>&1 &
done
wait
status=0
for target in "$@"; do
  summary=$build/fuzz-logs/$target.summary
  [[ $(tail -n 1 "$summary") == ok ]] || status=1
  sed '$d' "$summary"
done
exit $status
