#!/usr/bin/env bash
# playcount cluster benchmark: the same job on the same machine, four ways:
#
#   local1 a server with --workers 1 (one in-process worker): with `local`,
#          how far two workers scale on this machine without any shipping
#   local  a server with --workers 2 (in-process workers, reading the file)
#   one    a server with --workers 0 and one worker node of one worker,
#          pinned to core 0 (the bytes shipped over loopback)
#   two    a server with --workers 0 and two worker nodes of one worker each,
#          pinned to cores 0 and 1
#
# Each run uploads the file (not timed) and takes the job's own times from
# GET /jobs/<id>/: the whole job (finishedAt - startedAt: plan, read, merge,
# and write with its flush to disk) and its read phase (phaseMs.read),
# where the nodes do their work. The four setups run alternately, RUNS
# times, so slow phases of the machine hit all alike; medians are reported,
# and every result is checked against `playcount count` byte for byte.
#
# Environment (all optional):
#   PLAYCOUNT  binary under test      (default: <repo>/build/bin/playcount)
#   RUNS       runs of each setup     (default: 3)
#   INPUT      the CSV file           (default: the 1 GB file of bench/run.sh,
#                                      generated if missing; ROWS SONGS DAYS
#                                      SEED QUOTED change it as there)
#   DATA_DIR   generated files        (default: bench/data, git-ignored)
#
# Needs curl, node, taskset (util-linux) and 2 cores.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
PLAYCOUNT=${PLAYCOUNT:-$REPO_ROOT/build/bin/playcount}
RUNS=${RUNS:-3}
DATA_DIR=${DATA_DIR:-$BENCH_DIR/data}
WORK=$DATA_DIR/cluster

die() { echo "cluster.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }
for tool in curl node taskset; do
  command -v $tool >/dev/null || die "$tool is missing"
done
[ -x "$PLAYCOUNT" ] || die "no binary at $PLAYCOUNT (make first)"
if [ -z "${INPUT:-}" ]; then
  mkdir -p "$DATA_DIR" && DATA_DIR=$(cd "$DATA_DIR" && pwd)
  build_gen
  file_shape 0
  generated "$ROWS" "$SONGS" "$DAYS" "$SEED" "$QUOTED"
  INPUT=$FILE
fi
[ -f "$INPUT" ] || die "no input file $INPUT"

rm -rf "$WORK" && mkdir -p "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

json() { # json FIELD < JSON: one field of a JSON object
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)[process.argv[1]];console.log(v===null||v===undefined?"":v)})' "$1"
}

next_port=$((20000 + RANDOM % 20000))
declare -A HTTP_PORT=()
start_setup() { # start_setup NAME LOCAL_WORKERS CORES_FOR_NODES...
  local name=$1 workers=$2; shift 2
  local http=$next_port cluster=$((next_port + 1))
  next_port=$((next_port + 2))
  HTTP_PORT[$name]=$http
  "$PLAYCOUNT" serve --port "$http" --cluster-port "$cluster" --workers "$workers" \
    --max-running-jobs 1 --data-dir "$WORK/$name" --log-level warn \
    > "$WORK/$name-server.log" 2>&1 &
  PIDS+=($!)
  for core in "$@"; do
    taskset -c "$core" "$PLAYCOUNT" worker --join "127.0.0.1:$cluster" --workers 1 \
      --name "$name-core$core" > "$WORK/$name-node$core.log" 2>&1 &
    PIDS+=($!)
  done
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$http/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  for core in "$@"; do
    for _ in $(seq 1 100); do
      grep -q "joined the server" "$WORK/$name-node$core.log" && break
      sleep 0.1
    done
    grep -q "joined the server" "$WORK/$name-node$core.log" ||
      die "node $name-core$core did not join: $(cat "$WORK/$name-node$core.log")"
  done
}

run_job() { # run_job NAME RUN: prints the job's seconds and its read phase's
  local name=$1 run=$2 port=${HTTP_PORT[$1]}
  local id
  id=$(curl -s -H 'Expect:' -F "file=@$INPUT" "http://127.0.0.1:$port/jobs/count/" | json jobId)
  [ -n "$id" ] || die "$name: upload failed"
  # Polled with curl and grep alone: starting node for each poll would take
  # CPU from the job (the times come from the job itself, not from here).
  local body
  while :; do
    body=$(curl -s "http://127.0.0.1:$port/jobs/$id/")
    grep -qE '"state":"(queued|started)"' <<<"$body" || break
    sleep 0.1
  done
  local state
  state=$(echo "$body" | json state)
  [ "$state" = finished ] || die "$name: job $state: $(echo "$body" | json error)"
  if [ "$run" = 1 ]; then
    curl -s "http://127.0.0.1:$port/jobs/$id/result/" -o "$WORK/$name-out.csv"
    cmp -s "$WORK/$name-out.csv" "$WORK/expected.csv" ||
      die "$name: the result differs from playcount count's"
  fi
  echo "$body" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s),p=j.phaseMs;console.log(((Date.parse(j.finishedAt)-Date.parse(j.startedAt))/1000).toFixed(3), (p.read/1000).toFixed(3), `scan ${p.scan} ms, merge ${p.merge} ms, write ${p.write} ms`)})'
  curl -s -X DELETE "http://127.0.0.1:$port/jobs/$id/" >/dev/null
}

log "expected result: playcount count"
"$PLAYCOUNT" count "$INPUT" -o "$WORK/expected.csv" --quiet
cat "$INPUT" > /dev/null # page cache warm

start_setup local1 1
start_setup local 2
start_setup one 0 0
start_setup two 0 0 1

declare -A TIMES=() READS=()
for run in $(seq 1 "$RUNS"); do
  for name in local1 local one two; do
    read -r t r rest < <(run_job "$name" "$run")
    TIMES[$name]="${TIMES[$name]:-} $t"
    READS[$name]="${READS[$name]:-} $r"
    printf '   run %d/%d  %-6s job %8.3f s   read %8.3f s   (%s)\n' "$run" "$RUNS" "$name" "$t" "$r" "$rest" >&2
  done
done

echo
printf '%-8s %5s %12s %12s\n' setup runs "job median" "read median"
declare -A JOB=() READ=()
for name in local1 local one two; do
  # shellcheck disable=SC2086
  JOB[$name]=$(stat_of median ${TIMES[$name]})
  # shellcheck disable=SC2086
  READ[$name]=$(stat_of median ${READS[$name]})
  printf '%-8s %5d %10.3f s %10.3f s\n' "$name" "$RUNS" "${JOB[$name]}" "${READ[$name]}"
done
echo
for what in job read; do
  if [ $what = job ]; then one=${JOB[one]} two=${JOB[two]} loc=${JOB[local]} loc1=${JOB[local1]}
  else one=${READ[one]} two=${READ[two]} loc=${READ[local]} loc1=${READ[local1]}; fi
  awk -v what=$what -v one="$one" -v two="$two" -v loc="$loc" -v loc1="$loc1" 'BEGIN {
    s = one / two; c = two / loc; p = loc1 / loc;
    printf "%-4s  two nodes vs one: %.2fx faster (target >= 1.7x: %s; in-process 2 workers vs 1: %.2fx);", what, s, (s >= 1.7 ? "met" : "MISSED"), p;
    printf "  two nodes vs in-process: %.2fx the time (target <= 1.5x: %s)\n", c, (c <= 1.5 ? "met" : "MISSED");
  }'
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
