#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Keeps bench/rules/vigil.rg (ripgrep) and vigil.yar (YARA) equivalent to the trigger
patterns in src/rules.c, so that the benchmark compares the same searches.

Usage: sync.py [--write | --out DIR] [--cc CC]
  Without options: exit 1 (and say which) if a rule file differs from what src/rules.c gives.
  --write: rewrite both files here.  --out DIR: write both files to DIR (bench/run.sh uses
  these, so a stale copy here cannot skew a run).

The translation is mechanical, which is why it is trusted:
  vectorscan -> Rust regex (ripgrep): the pattern unchanged behind `(?-u)` (ASCII classes,
    ASCII `\\b`, as vectorscan without HS_FLAG_UCP) or `(?i-u)` for HS_FLAG_CASELESS
    (ASCII case folding, as vectorscan's).
  vectorscan -> YARA: `(?:` becomes `(` (YARA has no non-capturing groups; capture does not
    change what matches), `/` is escaped, HS_FLAG_CASELESS becomes `nocase`.
The one difference that cannot be removed: ripgrep matches within a line, so the two rules
whose `\\s*` may cross a newline (aws.secret, password) see a little less in ripgrep.
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HS_FLAG_CASELESS = 1
HS_FLAG_SINGLEMATCH = 8
HS_FLAG_SOM_LEFTMOST = 256
# Flags that change what a pattern matches and that the translation does not handle.
UNHANDLED = ~(HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH | HS_FLAG_SOM_LEFTMOST)

C_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def c_unescape(s):
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s)


def read_rules(cc):
    """[(name, pattern, flags)] from src/rules.c, after the preprocessor."""
    cflags = subprocess.run(["pkg-config", "--cflags", "libhs"], capture_output=True,
                            text=True, check=False).stdout.split()
    p = subprocess.run([cc, "-E", "-P", "-D_GNU_SOURCE", "-I" + os.path.join(ROOT, "include"),
                        "-I" + os.path.join(ROOT, "src")] + cflags +
                       [os.path.join(ROOT, "src", "rules.c")], capture_output=True, text=True,
                       check=False)
    if p.returncode != 0:
        sys.exit(f"sync.py: preprocessing src/rules.c failed:\n{p.stderr}")
    text = p.stdout
    start = text.index("vigil_rules[] =")
    body = text[text.index("{", start) + 1: text.index("};", start)]
    rules = []
    depth, entry = 0, ""
    for ch in body:
        if ch == "{":
            depth += 1
            if depth == 1:
                entry = ""
                continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                rules.append(parse_entry(entry))
                continue
        if depth >= 1:
            entry += ch
    return rules


def parse_entry(entry):
    strings = list(C_STRING.finditer(entry))
    name = c_unescape(strings[0].group(1))
    # The pattern: the string literals after the name, up to the first comma outside them.
    pattern, pos = "", strings[0].end()
    pos = entry.index(",", pos) + 1
    for m in strings[1:]:
        if entry[pos:m.start()].strip():
            break
        pattern += c_unescape(m.group(1))
        pos = m.end()
    rest = entry[pos:].lstrip()
    assert rest.startswith(","), entry
    flags_expr = rest[1:].split(",", 1)[0].strip()
    if not re.fullmatch(r"[0-9xXa-fA-FuUlL|() ]+", flags_expr):
        sys.exit(f"sync.py: cannot read the flags of rule {name}: {flags_expr}")
    flags = eval(re.sub(r"(?<=[0-9a-fA-F])[uUlL]+", "", flags_expr))  # digits and | only
    if flags & UNHANDLED:
        sys.exit(f"sync.py: rule {name} uses flags {flags:#x}: translate it by hand")
    return name, pattern, flags


def to_rg(rules):
    lines = []
    for name, pattern, flags in rules:
        lines.append(("(?i-u)" if flags & HS_FLAG_CASELESS else "(?-u)") + pattern)
    return "".join(line + "\n" for line in lines)


def to_yara(rules):
    out = ["// SPDX-License-Identifier: Apache-2.0",
           "// vigil's trigger patterns as YARA rules, for bench/run.sh. Generated from",
           "// src/rules.c by bench/rules/sync.py --write: do not edit by hand.",
           ""]
    for name, pattern, flags in rules:
        if "(?" in pattern.replace("(?:", ""):
            sys.exit(f"sync.py: rule {name} has an inline modifier YARA lacks: translate by hand")
        y = pattern.replace("(?:", "(")
        y = re.sub(r"(?<!\\)/", r"\/", y)
        ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
        mod = " nocase" if flags & HS_FLAG_CASELESS else ""
        out.append(f"rule {ident} {{ strings: $a = /{y}/{mod} condition: $a }}")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    args = ap.parse_args()
    rules = read_rules(args.cc)
    want = {"vigil.rg": to_rg(rules), "vigil.yar": to_yara(rules)}
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        for fname, text in want.items():
            with open(os.path.join(args.out, fname), "w") as f:
                f.write(text)
        return 0
    stale = []
    for fname, text in want.items():
        path = os.path.join(HERE, fname)
        try:
            with open(path) as f:
                same = f.read() == text
        except OSError:
            same = False
        if same:
            continue
        if args.write:
            with open(path, "w") as f:
                f.write(text)
            print(f"sync.py: wrote {path} ({len(rules)} rules)", file=sys.stderr)
        else:
            stale.append(fname)
    if stale:
        print(f"sync.py: {', '.join(stale)} differ from src/rules.c; run bench/rules/sync.py "
              "--write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
