#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Matches vigil's JSON Lines findings on the planted corpus against the corpus manifest
(bench/make_planted.py): per category, how many planted secrets were found, missed, and how
many findings match nothing planted (the filler holds no secret, so those are false
positives or a secret reported on another line).

Usage: recall.py CORPUS_DIR FINDINGS.jsonl [--archives] [--show N]
  --archives  secrets inside archives count too (vigil ran without --no-archives)
  --show N    list up to N missed and N unmatched (path:line, never a value)
Exit status 0; the table goes to stdout.
"""

import argparse
import collections
import json
import os
import sys

ORDER = ["private_key", "payment_card", "iban", "ssn", "credential", "encrypted_archive"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("findings")
    ap.add_argument("--archives", action="store_true")
    ap.add_argument("--show", type=int, default=0)
    args = ap.parse_args()

    with open(os.path.join(args.corpus, ".vigil-bench-manifest.json")) as f:
        manifest = json.load(f)
    want = collections.defaultdict(list)
    for s in manifest["secrets"]:
        if s["archived"] and not args.archives:
            continue
        want[(s["path"], s["line"], s["category"])].append(s)

    root = os.path.abspath(args.corpus)
    got = collections.Counter()
    unmatched = []
    with open(args.findings, errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            path = os.path.relpath(os.path.abspath(r["path"]), root)
            key = (path, r.get("line", 0), r["category"])
            if got[key] < len(want.get(key, ())):
                got[key] += 1
            else:
                unmatched.append((r["category"], path, r.get("member"), r.get("line", 0),
                                  r.get("detector")))

    planted = collections.Counter()
    found = collections.Counter()
    missed = []
    for key, secrets in want.items():
        planted[key[2]] += len(secrets)
        found[key[2]] += got[key]
        if got[key] < len(secrets):
            missed.extend((key[2], key[0], key[1], s["kind"]) for s in secrets[got[key]:])
    extra = collections.Counter(u[0] for u in unmatched)

    print(f"{'category':<18} {'planted':>8} {'found':>8} {'recall':>8} {'unmatched':>10}")
    for cat in ORDER:
        if planted[cat] or extra[cat]:
            rec = f"{found[cat] / planted[cat]:.3f}" if planted[cat] else "-"
            print(f"{cat:<18} {planted[cat]:>8} {found[cat]:>8} {rec:>8} {extra[cat]:>10}")
    tp, tn = sum(planted.values()), sum(found.values())
    print(f"{'all':<18} {tp:>8} {tn:>8} {tn / tp if tp else 0:>8.3f} {len(unmatched):>10}")
    for cat, path, line, kind in sorted(missed)[: args.show]:
        print(f"  missed    {cat:<14} {path}:{line} ({kind})")
    for cat, path, member, line, det in sorted(unmatched, key=str)[: args.show]:
        where = f"{path}!/{member}" if member else path
        print(f"  unmatched {cat:<14} {where}:{line} ({det})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
