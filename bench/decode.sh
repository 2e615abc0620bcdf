#!/usr/bin/env bash
# Decode speed of gzip and zstd input (bench/decode_speed.cpp): MB/s of output for
# playcount's decoders (ISA-L igzip, libzstd) and zlib as a comparison.
#
#   bench/decode.sh                 compresses the 1 GB benchmark file (gzip -1, pigz -1,
#                                   zstd -1) into DATA_DIR once, then measures each
#   bench/decode.sh FILE.gz ...     measures these files
#
# Environment: DATA_DIR (default: bench/data, git-ignored), RUNS (default: 3; each run
# decodes every file once with each decoder).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
data=${DATA_DIR:-$here/data}
runs=${RUNS:-3}
bin=$data/decode_speed
mkdir -p "$data"
if [[ ! -x $bin || $here/decode_speed.cpp -nt $bin || $root/core/compression.cpp -nt $bin ]]; then
  g++ -std=c++17 -O2 -march=x86-64-v2 -I"$root" -o "$bin" "$here/decode_speed.cpp" \
    "$root/core/compression.cpp" "$root/core/failure.cpp" -lisal -lzstd -lz
fi
files=("$@")
if [[ ${#files[@]} -eq 0 ]]; then
  csv=$data/plays-40000000-5000-365-1-5.csv
  [[ -f $csv ]] || { echo "no $csv: run bench/run.sh once to make it" >&2; exit 1; }
  [[ -f $data/bench.csv.gz ]] || gzip -1 -c "$csv" > "$data/bench.csv.gz"
  [[ -f $data/bench.pigz.csv.gz ]] || pigz -1 -c "$csv" > "$data/bench.pigz.csv.gz"
  [[ -f $data/bench.csv.zst ]] || zstd -1 -q -c "$csv" > "$data/bench.csv.zst"
  files=("$data/bench.csv.gz" "$data/bench.pigz.csv.gz" "$data/bench.csv.zst")
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  ($(nproc) cores)"
for ((r = 1; r <= runs; r++)); do
  "$bin" "${files[@]}"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
