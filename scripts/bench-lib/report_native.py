#!/usr/bin/env python3
"""Summarises the native suite of scripts/bench: report_native.py RESULTS

Per scenario: the median wall time of every tool over the runs, each as a ratio to `cp -al`, and
the goals of SPEC §7 (unchanged: native <= 1.5 x cp -al and < rsnapshot's default; change:
native <= 1.5 x (cp -al + copying the changed bytes)). Never pass/fail.
"""
import json
import statistics
import sys

TOOLS = ["cp-al", "copy-changed", "rsnapshot", "rsync-link-dest", "snapkeep-rsync", "snapkeep-native"]


def main(argv):
    rows = [json.loads(line) for line in open(argv[0]) if line.strip()]
    scenarios = []
    for r in rows:
        if r["scenario"] not in scenarios and r["scenario"] != "full":
            scenarios.append(r["scenario"])
    med = {}
    mem = {}
    for sc in scenarios:
        for tool in TOOLS:
            walls = [r["wall"] for r in rows if r["scenario"] == sc and r["tool"] == tool]
            if walls:
                med[(sc, tool)] = statistics.median(walls)
                mem[(sc, tool)] = max(r.get("own_hwm_kib") or 0 for r in rows if r["scenario"] == sc and r["tool"] == tool)
    print(f"{'scenario':<12} {'tool':<16} {'median s':>9} {'x cp -al':>9} {'peak RSS':>10}")
    for sc in scenarios:
        base = med.get((sc, "cp-al"))
        for tool in TOOLS:
            if (sc, tool) in med:
                m = med[(sc, tool)]
                print(f"{sc:<12} {tool:<16} {m:>9.3f} {(m / base if base else 0):>9.2f} {mem[(sc, tool)] / 1024:>7.1f} MiB")
    print()
    for sc in scenarios:
        nat, cp = med.get((sc, "snapkeep-native")), med.get((sc, "cp-al"))
        if nat is None or cp is None:
            continue
        if "change" in sc and (sc, "copy-changed") in med:
            floor = cp + med[(sc, "copy-changed")]
            print(f"{sc}: native {nat:.3f} s = {nat / floor:.2f} x (cp -al + copying the changed bytes = {floor:.3f} s); goal <= 1.5")
        else:
            rs = med.get((sc, "rsnapshot"))
            print(f"{sc}: native {nat:.3f} s = {nat / cp:.2f} x cp -al (goal <= 1.5)" +
                  (f", {nat / rs:.2f} x rsnapshot default (goal < 1)" if rs else ""))
    own = max((r.get("own_hwm_kib") or 0 for r in rows if r["tool"] == "snapkeep-native"), default=0)
    print(f"snapkeep native peak RSS over all runs incl. the full snapshot: {own / 1024:.1f} MiB (goal < 100 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
