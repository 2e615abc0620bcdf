#!/usr/bin/python3
"""The old service's algorithm, without Django, RQ or Redis: one Dask query per (song, date).

usage: /usr/bin/python3 old_service.py IN.csv OUT.csv

The Django + RQ + Dask service that playcount replaces read the upload with
dask.dataframe.read_csv and then, for every (song, date) pair, ran a filtered sum and
.compute()d it: each pair re-reads and re-filters the whole file, so the time grows with
rows x groups (hours for millions of rows). This script keeps that loop as it was (the
RQ worker's body) and drops the web and queue layers around it. Debian's python3-dask
(apt-get install python3-dask), hence /usr/bin/python3. Dask's default scheduler for
data frames (threads). Only for small files: bench/peers.sh runs it on a ~2.6 MB file of
600 groups.

Output as playcount's: header `Song,Date,Total Number of Plays for Date`, songs in order
of first appearance, dates ascending. On stderr: the number of queries and their time.
"""
import csv
import sys
import time

import dask.dataframe as dd


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: old_service.py IN.csv OUT.csv", file=sys.stderr)
        return 2
    src, dst = sys.argv[1], sys.argv[2]
    t0 = time.monotonic()
    df = dd.read_csv(src, dtype={"Song": str, "Date": str, "Number of Plays": "int64"})

    # The pairs to total: one query for the distinct (song, date) pairs (in file order:
    # dask keeps the partitions' order and pandas' drop_duplicates the first occurrence).
    pairs = df[["Song", "Date"]].drop_duplicates().compute()
    order = {}
    for song, date in zip(pairs["Song"], pairs["Date"]):
        order.setdefault(song, []).append(date)

    # Then the old loop: one filtered sum per pair, each a full Dask computation.
    queries = 0
    with open(dst, "w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["Song", "Date", "Total Number of Plays for Date"])
        for song, dates in order.items():
            for date in sorted(set(dates)):
                total = df[(df["Song"] == song) & (df["Date"] == date)]["Number of Plays"].sum().compute()
                queries += 1
                w.writerow([song, date, int(total)])
    secs = time.monotonic() - t0
    print(f"old_service: {queries} (song, date) queries in {secs:.2f} s "
          f"({secs / max(queries, 1) * 1000:.1f} ms per query)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
