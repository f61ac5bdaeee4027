#!/usr/bin/env python3
"""Trim an LG M50 rate-test file for data/lgm50/ (how the shipped 1C and 2C files were made).

Usage: trim_lgm50.py SOURCE.csv OUT.csv [MIN_DT_S]

Keeps every row of the first constant-current discharge (the part calibrations fit) exactly as
measured, repeated time stamps included. In the rest and CC-CV charge segments after it, keeps the
first and last row of each segment and otherwise one row per MIN_DT_S seconds (default 10 s; the
source samples these at ~1 s). Rows are copied as text, so every kept value is the source's own.
"""
import sys

def segment(current):
    return "discharge" if current < -0.05 else ("charge" if current > 0.05 else "rest")

def main(src, out, min_dt=10.0):
    with open(src) as f:
        lines = f.read().splitlines()
    header, rows = lines[0], lines[1:]
    vals = [(float(r.split(",")[0]), float(r.split(",")[1])) for r in rows]
    segs = [segment(i) for _, i in vals]
    # End of the first discharge: the first row after it that is not a discharge row.
    first = segs.index("discharge")
    end = first
    while end < len(rows) and segs[end] == "discharge":
        end += 1
    keep = list(range(end))
    last_t = vals[end - 1][0]
    for k in range(end, len(rows)):
        seg_edge = segs[k] != segs[k - 1] or k + 1 == len(rows) or segs[k + 1] != segs[k]
        if seg_edge or vals[k][0] - last_t >= min_dt:
            keep.append(k)
            last_t = vals[k][0]
    with open(out, "w") as f:
        f.write(header + "\n")
        for k in keep:
            f.write(rows[k] + "\n")
    print(f"{out}: {len(keep)} of {len(rows)} rows (discharge rows 1-{end} kept whole)")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 10.0)
