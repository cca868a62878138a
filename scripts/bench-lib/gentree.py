#!/usr/bin/env python3
"""Deterministic benchmark trees for scripts/bench.

  gentree.py generate ROOT N        N files of 1-16 KiB in ~N/100 folders (ROOT/gNNN/dNNNNN/fNNNNNNN)
  gentree.py change ROOT N ROUND PCT  rewrite PCT % of the files (chosen by ROUND) with new content
                                      of the same size and a new mtime; prints "files bytes"
  gentree.py copy ROOT N ROUND PCT TO copy the files `change` rewrote to folder TO (the floor for
                                      storing the changed bytes: read, write, fsync-free)

Content and mtimes depend only on N, the file index and the round, so every run sees the same tree.
GENTREE_MAX_BYTES=M makes files of 1..M bytes instead (small trees of many files: scripts/bench-btrfs-scale).
"""
import os
import random
import sys

POOL = random.Random(42).randbytes(1 << 20)
BASE_MTIME = 1_700_000_000          # 2023-11-14, well in the past
CHANGE_MTIME = 1_750_000_000        # rounds get CHANGE_MTIME + round * 1000


MAX_BYTES = int(os.environ.get("GENTREE_MAX_BYTES", "0"))


def layout(n):
    dirs = max(1, n // 100)
    sizes_rng = random.Random(n)
    for i in range(n):
        d = i % dirs
        rel = os.path.join(f"g{d // 100:03d}", f"d{d:05d}", f"f{i:07d}.dat")
        if MAX_BYTES > 0:
            size = 1 + sizes_rng.randrange(MAX_BYTES)
        else:
            size = 1024 + sizes_rng.randrange(15 * 1024 + 1)
        yield i, rel, size


def content(i, size, rnd):
    header = f"file {i} round {rnd}\n".encode()[:size]
    off = (i * 7919 + rnd * 104729) % (len(POOL) - 17 * 1024)
    return header + POOL[off:off + size - len(header)]


def write(path, data, mtime):
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))


def generate(root, n):
    made = set()
    total = 0
    for i, rel, size in layout(n):
        d = os.path.dirname(rel)
        if d not in made:
            os.makedirs(os.path.join(root, d), exist_ok=True)
            made.add(d)
        write(os.path.join(root, rel), content(i, size, 0), BASE_MTIME + i % 86400)
        total += size
    print(n, total)


def change(root, n, rnd, pct):
    k = max(1, round(n * pct / 100))
    chosen = set(random.Random(1000 + rnd).sample(range(n), k))
    total = 0
    for i, rel, size in layout(n):
        if i in chosen:
            write(os.path.join(root, rel), content(i, size, rnd), CHANGE_MTIME + rnd * 1000)
            total += size
    print(k, total)


def copy(root, n, rnd, pct, to):
    k = max(1, round(n * pct / 100))
    chosen = set(random.Random(1000 + rnd).sample(range(n), k))
    os.makedirs(to, exist_ok=True)
    total = 0
    for i, rel, size in layout(n):
        if i in chosen:
            with open(os.path.join(root, rel), "rb") as f:
                data = f.read()
            with open(os.path.join(to, f"c{i}"), "wb") as f:
                f.write(data)
            total += len(data)
    print(k, total)


def main(argv):
    if len(argv) == 3 and argv[0] == "generate":
        generate(argv[1], int(argv[2]))
    elif len(argv) == 5 and argv[0] == "change":
        change(argv[1], int(argv[2]), int(argv[3]), float(argv[4]))
    elif len(argv) == 6 and argv[0] == "copy":
        copy(argv[1], int(argv[2]), int(argv[3]), float(argv[4]), argv[5])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
