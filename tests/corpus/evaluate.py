#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Scores `vigil scan --format json` output against the corpus labels: recall per category,
false positives, and redactions that leak a whole secret.

Usage: evaluate.py LABELS FINDINGS_JSONL [--json-out F]

Exit status: 0 when every category's recall is >= 0.98, there is no false positive and no
redaction shows a full secret; 1 when any of these fails; 2 when an input cannot be read.
"""

import argparse
import json
import os
import re
import sys
from collections import Counter, defaultdict

CATEGORIES = ["private_key", "payment_card", "iban", "ssn", "credential", "encrypted_archive"]
MIN_RECALL = 0.98
SEP = "!/"

# A single-file compressor's one member is named after the compressed file minus its suffix
# (or "data"); that level is an artefact of the decoding, not a place in the corpus, so it is
# dropped from members on both sides before matching ("x.tar.gz" -> "x.tar!/a.csv" == "a.csv").
COMPRESSED_SUFFIXES = [(".tgz", ".tar"), (".tbz2", ".tar"), (".tbz", ".tar"), (".txz", ".tar"),
                       (".tzst", ".tar"), (".gz", ""), (".bz2", ""), (".xz", ""), (".zst", ""),
                       (".zstd", ""), (".lz4", ""), (".lzma", ""), (".Z", "")]


def strip_compressed(name):
    base = name.rsplit("/", 1)[-1]
    for suf, repl in COMPRESSED_SUFFIXES:
        if base.endswith(suf) and len(base) > len(suf):
            return base[:-len(suf)] + repl
    return None


def clean_component(c):
    while c.startswith("./"):
        c = c[2:]
    return c.lstrip("/")


def canon_member(path, member):
    if not member:
        return None
    out, prev = [], path
    for part in (clean_component(p) for p in member.split(SEP)):
        plain = strip_compressed(prev)
        if plain is not None and part in (plain, "data"):
            prev = part
            continue
        out.append(part)
        prev = part
    return SEP.join(out) or None


def canon_path(p, root):
    """A finding's path relative to the corpus root."""
    if not os.path.isabs(p):
        cand = os.path.abspath(p)
        if (cand + os.sep).startswith(root + os.sep):
            p = cand  # relative to the current directory, which is where vigil ran
        else:
            # vigil ran elsewhere: the path ends with the file's path under the root
            parts = os.path.normpath(p).split(os.sep)
            rest = next((parts[i:] for i in range(len(parts))
                         if os.path.lexists(os.path.join(root, *parts[i:]))), parts)
            p = os.path.join(root, *rest)
    return os.path.relpath(os.path.normpath(p), root)


def visible(redacted):
    """The characters a redaction shows, separators dropped, for comparing with a secret."""
    return re.sub(r"[^0-9A-Za-z]", "", redacted)


def consistent(redacted, secret):
    """Whether a redaction could come from this secret (mask characters match anything)."""
    masked = re.sub(r"[ \-]", "", redacted)
    if len(masked) == len(secret):
        return all(a == b or not a.isalnum() for a, b in zip(masked, secret))
    head = re.match(r"[0-9A-Za-z]*", masked).group(0)
    tail = re.search(r"[0-9A-Za-z]*$", masked).group(0)
    return bool(head or tail) and secret.startswith(head) and secret.endswith(tail)


def pair_up(labs, fs):
    """The labels and findings of one (path, member, category) left over after pairing each
    label with a finding whose redaction fits its secret; when the redactions cannot tell,
    the surplus side is reported whole (its count is still exact in the scores)."""
    left, lost = list(fs), []
    for lab in labs:
        hit = next((f for f in left if lab.get("secret") and
                    consistent(f["redacted"], lab["secret"])), None)
        if hit is not None:
            left.remove(hit)
        else:
            lost.append(lab)
    if len(fs) < len(labs):
        return (lost if len(lost) == len(labs) - len(fs) else labs), []
    return [], (left if len(left) == len(fs) - len(labs) else fs)


def load_findings(path, root, labels_file):
    findings, ignored, bad = [], 0, []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                bad.append("line %d: %s" % (n, e))
                continue
            if not isinstance(obj, dict) or "path" not in obj or "category" not in obj:
                ignored += 1  # a summary or other record, not a finding
                continue
            rel = canon_path(obj["path"], root)
            if os.path.join(root, rel) == labels_file:
                ignored += 1  # the labels hold the test secrets themselves
                continue
            findings.append({"path": rel, "member": canon_member(rel, obj.get("member")),
                             "category": obj["category"], "detector": obj.get("detector", ""),
                             "redacted": obj.get("redacted", ""), "line": obj.get("line"),
                             "offset": obj.get("offset")})
    return findings, ignored, bad


def show(p, member):
    return p + (SEP + member if member else "")


def evaluate(labels_doc, findings):
    labels = labels_doc["findings"]
    by_key_l, by_key_f = defaultdict(list), defaultdict(list)
    for lab in labels:
        key = (lab["path"], canon_member(lab["path"], lab.get("member")), lab["category"])
        by_key_l[key].append(lab)
    for f in findings:
        by_key_f[(f["path"], f["member"], f["category"])].append(f)

    expected, found, fp_count = Counter(), Counter(), Counter()
    misses, fps, detector_notes = [], [], []
    for key, labs in by_key_l.items():
        fs = by_key_f.get(key, [])
        expected[key[2]] += len(labs)
        found[key[2]] += min(len(labs), len(fs))
        if len(fs) != len(labs):
            lost, extra = pair_up(labs, fs)
            for lab in lost:
                misses.append({"path": key[0], "member": key[1], "category": key[2],
                               "detector_prefix": lab.get("detector_prefix"),
                               "what": lab.get("what"),
                               "note": "%d of %d found here" % (len(fs), len(labs))})
            fp_count[key[2]] += max(0, len(fs) - len(labs))
            for f in extra:
                fps.append(dict(f, note="%d findings for %d labels here" % (len(fs), len(labs))))
        prefixes = Counter(lab.get("detector_prefix") for lab in labs if lab.get("detector_prefix"))
        for pre, n in prefixes.items():
            have = sum(1 for f in fs if f["detector"].startswith(pre))
            if have < min(n, len(fs)):
                detector_notes.append("%s %s: expected detector %s* x%d, got %s"
                                      % (show(key[0], key[1]), key[2], pre, n,
                                         ", ".join(sorted({f["detector"] for f in fs}))))
    negatives = {n["path"]: n.get("what", "") for n in labels_doc.get("negatives", [])}
    for key, fs in by_key_f.items():
        if key not in by_key_l:
            fp_count[key[2]] += len(fs)
            for f in fs:
                fps.append(dict(f, note=("hard negative: " + negatives[key[0]])
                                if key[0] in negatives else "no label"))

    # Redactions must never show a whole secret.
    secrets = [(lab["secret"], lab) for lab in labels if len(lab.get("secret") or "") >= 8]
    leaks = []
    for f in findings:
        red, vis = f["redacted"], visible(f["redacted"]).upper()
        for s, lab in secrets:
            if s in red or (s.isalnum() and s.upper() in vis):
                leaks.append({"path": f["path"], "member": f["member"],
                              "category": f["category"], "detector": f["detector"],
                              "label": lab.get("what")})
    return expected, found, fp_count, misses, fps, leaks, detector_notes


def main():
    ap = argparse.ArgumentParser(description="Score vigil findings against corpus labels.")
    ap.add_argument("labels")
    ap.add_argument("findings")
    ap.add_argument("--json-out", metavar="F")
    ap.add_argument("--quiet-detectors", action="store_true",
                    help="do not list detector-name mismatches (they never fail the run)")
    args = ap.parse_args()
    try:
        with open(args.labels, encoding="utf-8") as f:
            labels_doc = json.load(f)
        labels_file = os.path.abspath(args.labels)
        root = os.path.dirname(labels_file)
        findings, ignored, bad = load_findings(args.findings, root, labels_file)
    except (OSError, ValueError, KeyError) as e:
        print("evaluate: %s" % e, file=sys.stderr)
        return 2

    expected, found, fp_count, misses, fps, leaks, det_notes = evaluate(labels_doc, findings)
    nfp = sum(fp_count.values())
    ok = nfp == 0 and not leaks and not bad
    print("%-18s %9s %8s" % ("category", "found", "recall"))
    per_cat = {}
    for cat in CATEGORIES:
        e, fnd = expected[cat], found[cat]
        rec = fnd / e if e else 1.0
        cat_fp = fp_count[cat]
        per_cat[cat] = {"expected": e, "found": fnd, "recall": rec, "false_positives": cat_fp}
        flag = "" if rec >= MIN_RECALL else "  < %.2f" % MIN_RECALL
        ok = ok and rec >= MIN_RECALL
        print("%-18s %4d/%-4d %8.3f  fp %d%s" % (cat, fnd, e, rec, cat_fp, flag))
    te, tf = sum(expected.values()), sum(found.values())
    print("%-18s %4d/%-4d %8.3f  fp %d" % ("total", tf, te, tf / te if te else 1.0, nfp))
    print("findings read: %d (ignored %d non-finding or labels-file records)"
          % (len(findings), ignored))

    if bad:
        print("\nunparsable lines in %s: %d" % (args.findings, len(bad)))
        for b in bad[:20]:
            print("  " + b)
    if fps:
        print("\nfalse positives: %d" % nfp)
        for f in sorted(fps, key=lambda f: (f["path"], f["member"] or "", f["offset"] or 0)):
            print("  %s  [%s] %s  %s  (%s)" % (show(f["path"], f["member"]), f["category"],
                                                f["detector"], f["redacted"], f["note"]))
    if misses:
        print("\nmisses: %d" % len(misses))
        for m in sorted(misses, key=lambda m: (m["path"], m["member"] or "")):
            print("  %s  [%s] %s  (%s)" % (show(m["path"], m["member"]), m["category"],
                                          m["what"], m["note"]))
    if leaks:
        print("\nredactions showing a full secret: %d" % len(leaks))
        for lk in leaks:
            print("  %s  [%s] %s  (label: %s)" % (show(lk["path"], lk["member"]), lk["category"],
                                                 lk["detector"], lk["label"]))
    if det_notes and not args.quiet_detectors:
        print("\ndetector names differing from the labels' prefixes (informational): %d"
              % len(det_notes))
        for n in det_notes[:40]:
            print("  " + n)
        if len(det_notes) > 40:
            print("  ... %d more" % (len(det_notes) - 40))
    print("\n%s" % ("PASS" if ok else "FAIL"))

    if args.json_out:
        out = {"pass": ok, "categories": per_cat, "expected": te, "found": tf,
               "false_positive_count": nfp, "false_positives": fps, "misses": misses,
               "leaks": leaks,
               "unparsable_lines": bad, "detector_notes": det_notes}
        with open(args.json_out, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
