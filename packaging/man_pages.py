#!/usr/bin/env python3
"""Makes snapkeep(1) and snapkeep.conf(5) from the user docs in docs/ with go-md2man, so the man
pages always say what the docs say (packaging/CMakeLists.txt runs this at build time).

Usage: man_pages.py --docs DIR --out DIR --version X.Y.Z --md2man PATH
"""
import argparse
import gzip
import os
import re
import subprocess
import sys

PAGES = [
    # file, section, name line, docs in order (the first one's title is dropped)
    ("snapkeep.1", "1", "User Commands", "snapkeep - dated, browsable, incremental snapshot backups with bit-rot checks",
     "snapkeep [-c FILE]... [-v|-q] [--json] [--progress-fd N] COMMAND [ARGS]\n"
     "snapkeep FILE.ini [FILE.ini ...]",
     ["usage.md", "systemd.md"],
     "snapkeep.conf(5), rsync(1), btrfs(8), systemd.timer(5)"),
    ("snapkeep.conf.5", "5", "File Formats", "snapkeep.conf - snapkeep configuration: presets, retention, drives, monitoring",
     "/etc/snapkeep/snapkeep.conf",
     ["configuration.md", "monitoring.md"],
     "snapkeep(1), systemd.syntax(7)"),
]


def body(path):
    """The doc without its title, each heading one level up (## -> #), links as their text, code blocks left alone."""
    out = []
    fenced = False
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    title = lines[0].lstrip("# ").strip() if lines and lines[0].startswith("# ") else None
    if title:
        lines = lines[1:]
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"^#{2,6} ", line):
            line = line[1:]
        if not fenced:
            # [text](other.md#part): the text alone (a man page cannot follow the link; the docs
            # are installed beside it, SEE ALSO says where).
            line = re.sub(r"\[([^\]]+)\]\([^)\s]+\)", r"\1", line)
        out.append(line)
    return title, "\n".join(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--md2man", required=True)
    args = parser.parse_args()
    for name, section, manual, name_line, synopsis, docs, see_also in PAGES:
        text = [f'% {name.rsplit(".", 1)[0].upper()} {section} "" "snapkeep {args.version}" "{manual}"', "",
                "# NAME", "", name_line, "", "# SYNOPSIS", "", "```", synopsis, "```", "", "# DESCRIPTION", ""]
        for i, doc in enumerate(docs):
            title, content = body(os.path.join(args.docs, doc))
            if i > 0 and title:
                text += [f"# {title.upper()}", ""]
            text.append(content)
            text.append("")
        text += ["# SEE ALSO", "", see_also, "",
                 "The same text, with links between its parts: /usr/share/doc/snapkeep/*.md", ""]
        folder = os.path.join(args.out, "man" + section)
        os.makedirs(folder, exist_ok=True)
        result = subprocess.run([args.md2man], input="\n".join(text).encode("utf-8"), stdout=subprocess.PIPE)
        if result.returncode != 0:
            print(f"man_pages.py: go-md2man failed on {name}", file=sys.stderr)
            return 1
        # A table cell's escaped pipe (`--dry-run\|-n`) comes out as a literal backslash and pipe.
        roff = result.stdout.decode("utf-8").replace("\\\\|", "|")
        target = os.path.join(folder, name)
        with open(target + ".tmp", "w", encoding="utf-8") as f:
            f.write(roff)
        os.replace(target + ".tmp", target)
        # What is installed: gzip -9n, as Debian policy wants man pages (no name, no time: reproducible).
        with open(target + ".gz.tmp", "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as f:
                f.write(roff.encode("utf-8"))
        os.replace(target + ".gz.tmp", target + ".gz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
