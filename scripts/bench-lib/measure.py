#!/usr/bin/env python3
"""Runs one command (argv, no shell) and appends one JSON line about it to a results file.

  measure.py RESULTS LABEL-JSON STDOUT-FILE STDERR-FILE -- CMD [ARG]...

Recorded: wall seconds (monotonic clock, from spawn to reap), exit status, and memory:
  - maxrss_kib: ru_maxrss from wait4(), the same number GNU `time -f %M` prints. Linux folds the
    peaks of every reaped descendant into it, so for snapkeep it is max(snapkeep, its rsync).
  - own_hwm_kib: VmHWM of the command's own process (not its children), sampled from
    /proc/PID/status every POLL seconds by a side thread; VmHWM only grows, so the last sample is
    the peak except for growth in the final interval before exit.
  - children_hwm_kib: the largest VmHWM seen among its descendants (e.g. the rsync processes).
The exit status of the command is this script's exit status.
"""
import json
import os
import subprocess
import sys
import threading
import time

POLL = 0.025


def hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return out


def main(argv):
    if len(argv) < 6 or argv[4] != "--":
        sys.stderr.write(__doc__)
        return 2
    results, label, out_path, err_path, cmd = argv[0], json.loads(argv[1]), argv[2], argv[3], argv[5:]
    own = [0]
    kids = {}
    done = threading.Event()

    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        pid = proc.pid

        def poll():
            while not done.is_set():
                h = hwm_kib(pid)
                if h is not None:
                    own[0] = max(own[0], h)
                todo = children(pid)
                while todo:
                    c = todo.pop()
                    h = hwm_kib(c)
                    if h is not None:
                        kids[c] = max(kids.get(c, 0), h)
                    todo.extend(children(c))
                done.wait(POLL)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(pid, 0)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
        done.set()
        watcher.join()

    rc = os.waitstatus_to_exitcode(status)
    record = dict(label)
    record.update(wall=wall, rc=rc, maxrss_kib=usage.ru_maxrss, own_hwm_kib=own[0],
                  children_hwm_kib=max(kids.values(), default=0), processes=1 + len(kids))
    try:
        with open(out_path) as f:
            record["output"] = json.load(f)
    except (OSError, ValueError):
        pass
    with open(results, "a") as f:
        f.write(json.dumps(record) + "\n")
    line = f"{wall:7.2f} s  peak RSS own {own[0] / 1024:6.1f} MiB, %M {usage.ru_maxrss / 1024:6.1f} MiB"
    for p in (record.get("output") or {}).get("presets", []):
        line += f"  [{p.get('status')}: {p.get('files')} files, {p.get('bytes_transferred')} B sent]"
    print(line, flush=True)
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
