#!/usr/bin/env python3
"""Summarises scripts/bench results: report.py RESULTS GOAL_RATIO GOAL_MIB

Per scenario: median wall time of snapkeep and of bare rsync over the runs, their ratio, and memory.
Timings are never pass/fail; the summary lines only say where each number stands against its goal.
"""
import json
import statistics
import sys


def mib(kib):
    return f"{kib / 1024:.1f}"


def main(argv):
    results, goal_ratio, goal_mib = argv[0], float(argv[1]), float(argv[2])
    rows = [json.loads(line) for line in open(results) if line.strip()]
    scenarios = []
    for r in rows:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])

    def pick(scenario, tool):
        return [r for r in rows if r["scenario"] == scenario and r["tool"] == tool]

    header = (f"{'scenario':<14} {'runs':>4} {'snapkeep s':>10} {'rsync s':>8} {'ratio':>6} "
              f"{'pair ratio':>10} {'snapkeep own':>12} {'snapkeep %M':>11} {'bare rsync %M':>13}")
    print(header)
    print("-" * len(header))
    summary = []
    for sc in scenarios:
        sk, rs = pick(sc, "snapkeep"), pick(sc, "rsync")
        sk_med = statistics.median(r["wall"] for r in sk) if sk else None
        rs_med = statistics.median(r["wall"] for r in rs) if rs else None
        ratio = sk_med / rs_med if sk_med and rs_med else None
        pair = statistics.median(a["wall"] / b["wall"] for a, b in zip(sk, rs)) if sk and rs else None
        own = max((r["own_hwm_kib"] for r in sk), default=0)
        tree = max((r["maxrss_kib"] for r in sk), default=0)
        bare = max((r["maxrss_kib"] for r in rs), default=0)
        print(f"{sc:<14} {max(len(sk), len(rs)):>4} "
              f"{(f'{sk_med:.2f}' if sk_med is not None else '-'):>10} "
              f"{(f'{rs_med:.2f}' if rs_med is not None else '-'):>8} "
              f"{(f'{ratio:.3f}' if ratio else '-'):>6} {(f'{pair:.3f}' if pair else '-'):>10} "
              f"{(mib(own) + ' MiB') if sk else '-':>12} {(mib(tree) + ' MiB') if sk else '-':>11} "
              f"{(mib(bare) + ' MiB') if rs else '-':>13}")
        if ratio:
            pairs = " ".join(f"{a['wall']:.2f}/{b['wall']:.2f}" for a, b in zip(sk, rs))
            summary.append(f"{sc}: ratio {ratio:.2f} (goal ≤ {goal_ratio:.2f})   median pair ratio {pair:.2f}; "
                           f"runs snapkeep/rsync s: {pairs}")
    own_all = max((r["own_hwm_kib"] for r in rows if r["tool"] == "snapkeep"), default=0)
    print()
    for line in summary:
        print(line)
    print(f"snapkeep own peak RSS over all runs incl. the full baseline: {mib(own_all)} MiB "
          f"(goal < {goal_mib:.0f} MiB)")
    bad = [r for r in rows if r["tool"] == "snapkeep" and
           any(p.get("status") != "ok" for p in (r.get("output") or {}).get("presets", [{}]))]
    if bad:
        print(f"warning: {len(bad)} snapkeep run(s) did not report status ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
