#!/usr/bin/python3
"""pandas as a peer: the same totals per (song, date), ordered by song name then date.

usage: /usr/bin/python3 pandas_groupby.py IN.csv OUT.csv

Debian's python3-pandas (apt-get install python3-pandas), hence /usr/bin/python3 rather
than whatever `python3` is first on PATH. One thread (pandas does not parallelise this).
read_csv with fixed dtypes (no inference; the date stays a string: ISO dates sort and
group the same as dates, and parsing them would only add time), groupby on (Song, Date)
with sort=True, sum, to_csv (quotes only where needed, like the other writers).
"""
import sys

import pandas as pd


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: pandas_groupby.py IN.csv OUT.csv", file=sys.stderr)
        return 2
    src, dst = sys.argv[1], sys.argv[2]
    df = pd.read_csv(
        src,
        dtype={"Song": str, "Date": str, "Number of Plays": "int64"},
        engine="c",
    )
    totals = (
        df.groupby(["Song", "Date"], sort=True)["Number of Plays"]
        .sum()
        .rename("Total Number of Plays for Date")
        .reset_index()
    )
    totals.to_csv(dst, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
