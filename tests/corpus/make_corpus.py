#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Builds the labelled detection-quality corpus for `vigil scan`: positives of every category in
many text formats, containers and encodings, hard negatives, and OUTDIR/labels.json.

Usage: make_corpus.py OUTDIR [--seed N] [--scale N]

Everything is written under OUTDIR (scratch work in OUTDIR/.work, removed at the end); external
tools (openssl, ssh-keygen, puttygen, zip, 7z, zstd, cpio, xorriso) run with HOME pointed there
too. Numbers, tokens, names and the tree layout are deterministic given --seed; key material is
not (the tools draw their own randomness), which changes no label.
"""

import argparse
import base64
import bz2
import csv
import gzip
import io
import json
import lzma
import os
import random
import re
import shutil
import string
import subprocess
import sys
import tarfile
import zipfile
import zlib
from xml.sax.saxutils import escape as xml_escape

SEP = "!/"
MTIME = 1700000000  # fixed member times, so archives depend on the seed only
ZIP_TIME = (2023, 11, 14, 22, 13, 20)

DIGITS = string.digits
UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
ALNUM = DIGITS + UPPER + LOWER
B32 = UPPER + "234567"
BASE62 = DIGITS + UPPER + LOWER  # GitHub's checksum alphabet

# Text that must never appear by accident in generated filler or key material: each would be a
# finding nobody labelled.
ACCIDENT_RE = re.compile(r"AKIA[A-Z2-7]{16}|AIza[0-9A-Za-z_\-]{35}|[0-9]{12}|LS0tLS1CRUdJTi")

FIRST = ["Alice", "Bruno", "Chen", "Dana", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas",
         "Kofi", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
         "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe"]
LAST = ["Almeida", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haas", "Ivanova",
        "Jansen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Peeters", "Quispe",
        "Rossi", "Schmidt", "Tanaka", "Urban", "Virtanen", "Weber", "Yilmaz", "Zeller"]
CITIES = ["Berlin", "Lyon", "Porto", "Leeds", "Malmo", "Graz", "Utrecht", "Ghent", "Bergen",
          "Aarhus", "Tampere", "Cork", "Bologna", "Zaragoza", "Krakow", "Basel", "Austin"]
# Filler vocabulary; no word contains "ssn" or "pass" (keyword triggers).
WORDS = ("the of and to in is for on with as by at from this that be are was it an or have not "
         "which their will can more other about into only new some could time these two may "
         "first then do any like my now over such our man me even most made after also did "
         "many before must through back years where much your way well down should because "
         "each just those people how too little state good very make world still own see men "
         "work long get here between both life being under never day same another know while "
         "last might us great old year off come since against go came right used take three "
         "report order shipment invoice ticket review budget meeting summary quarter region "
         "customer account balance ledger archive folder backup server cluster node deploy").split()

KEYWORD_FREE = re.compile(r"ssn|pass|pwd|social", re.I)
assert not any(KEYWORD_FREE.search(w) for w in WORDS + FIRST + LAST + CITIES)


# ---------------------------------------------------------------------------------------------
# Numbers that validate: cards, IBANs, SSNs


def luhn_digit(body):
    """The check digit that makes body+digit pass Luhn."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(num):
    return luhn_digit(num[:-1]) == num[-1]


def rng_range(lo, hi):
    return [str(p) for p in range(lo, hi + 1)]


# brand -> list of (prefixes, lengths); one variant is used per card in rotation.
CARD_BRANDS = [
    ("visa", [(["4"], [16]), (["4"], [13]), (["4"], [16]), (["4"], [19])]),
    ("mastercard", [(rng_range(51, 55), [16]), (rng_range(2221, 2720), [16])]),
    ("amex", [(["34", "37"], [15])]),
    ("discover", [(["6011"], [16]), (["65"], [16]), (rng_range(644, 649), [16])]),
    ("jcb", [(rng_range(3528, 3589), [16])]),
    ("diners", [(["36"], [14]), (rng_range(300, 305), [14])]),
    # 621/623 stay clear of 622126-622925 and 624-626, which are also Discover's.
    ("unionpay", [(["621", "623"], [16, 17, 18, 19])]),
    ("maestro", [(["6759"], [16]), (["6759"], [12]), (["6759"], [19]), (["6759"], [13])]),
]


def card_groups(brand, n):
    """How a card of this brand and length is printed with separators, or None."""
    if brand == "amex" and n == 15:
        return [4, 6, 5]
    if brand == "diners" and n == 14:
        return [4, 6, 4]
    if n == 16:
        return [4, 4, 4, 4]
    if n == 19:
        return [4, 4, 4, 4, 3]
    return None


def split_groups(s, sizes, sep):
    out, i = [], 0
    for k in sizes:
        out.append(s[i:i + k])
        i += k
    return sep.join(out)


# Country -> BBAN layout from the SWIFT IBAN registry: n digits, a letters, c alphanumerics.
IBAN_LAYOUTS = {
    "DE": "18n", "GB": "4a14n", "FR": "10n11c2n", "ES": "20n", "IT": "1a10n12c", "NL": "4a10n",
    "BE": "12n", "CH": "5n12c", "AT": "16n", "PL": "24n", "SE": "20n", "NO": "11n", "DK": "14n",
    "FI": "14n", "IE": "4a14n", "PT": "21n", "LU": "3n13c", "CZ": "20n", "SK": "20n",
    "HU": "24n", "RO": "4a16c", "GR": "7n16c", "SI": "15n", "HR": "17n", "LT": "16n",
    "LV": "4a13c", "EE": "16n", "IS": "22n", "LI": "5n12c", "MT": "4a5n18c", "CY": "8n16c",
    "BG": "4a6n8c", "SA": "2n18c", "AE": "3n16n", "TR": "5n1n16c",
}


def iban_check(country, bban):
    """The two check digits for country+bban (ISO 13616 mod 97-10)."""
    s = bban + country + "00"
    n = int("".join(str(int(ch, 36)) for ch in s))
    return "%02d" % (98 - n % 97)


def iban_ok(iban):
    s = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in s)) % 97 == 1


SSN_BLOCKED = {"078051120", "219099999", "457555462", "123456789"}


def ssn_ok(s):
    area, group, serial = s[:3], s[3:5], s[5:]
    return (area != "000" and area != "666" and area[0] != "9" and group != "00"
            and serial != "0000" and s not in SSN_BLOCKED)


# ---------------------------------------------------------------------------------------------
# Documents: bytes plus the findings they are expected to produce


class Doc:
    """A file's content and its expected findings (members relative to this content)."""

    def __init__(self, data, items=()):
        self.data = data.encode("utf-8") if isinstance(data, str) else data
        self.items = [dict(it) for it in items]
        for it in self.items:
            it.setdefault("member", [])


def item(category, prefix, what, secret=None):
    it = {"category": category, "prefix": prefix, "what": what, "member": []}
    if secret is not None:
        it["secret"] = secret
    return it


def nest(entries):
    """Items of a container built from (name, Doc) entries: members gain the entry name."""
    out = []
    for name, doc in entries:
        for it in doc.items:
            it = dict(it)
            it["member"] = [name] + it["member"]
            out.append(it)
    return out


class Corpus:
    def __init__(self, root, seed, scale):
        self.root = root
        self.rng = random.Random(seed)
        self.seed = seed
        self.scale = scale
        self.findings = []
        self.negatives = []
        self.work = os.path.join(root, ".work")
        os.makedirs(self.work)
        self.env = dict(os.environ, HOME=self.work, RANDFILE=os.path.join(self.work, ".rnd"),
                        LC_ALL="C", TMPDIR=self.work)
        self.counters = {}
        self.tmp_serial = 0

    # ---- small helpers ----

    def next(self, name, n):
        """Round-robin index for `name` over n choices, so every variant gets used."""
        i = self.counters.get(name, 0)
        self.counters[name] = i + 1
        return i % n

    def rows(self, k):
        return max(1, k * self.scale)

    def name(self):
        return "%s %s" % (self.rng.choice(FIRST), self.rng.choice(LAST))

    def email(self, name):
        return "%s@example.org" % name.lower().replace(" ", ".")

    def date(self):
        return "2024-%02d-%02d" % (self.rng.randint(1, 12), self.rng.randint(1, 28))

    def ts(self):
        return "%sT%02d:%02d:%02dZ" % (self.date(), self.rng.randint(0, 23),
                                        self.rng.randint(0, 59), self.rng.randint(0, 59))

    def amount(self):
        return "%d.%02d" % (self.rng.randint(1, 4999), self.rng.randint(0, 99))

    def words(self, n):
        return " ".join(self.rng.choice(WORDS) for _ in range(n))

    def sentence(self):
        s = self.words(self.rng.randint(6, 14))
        return s[0].upper() + s[1:] + "."

    def rand(self, alphabet, n):
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def hex(self, n):
        """Random lower-case hex without a long digit run (which could read as a number)."""
        while True:
            h = self.rand("0123456789abcdef", n)
            if not re.search(r"[0-9]{8}", h):
                return h

    def run(self, args, data=None, cwd=None):
        p = subprocess.run(args, input=data, cwd=cwd or self.work, env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (args[0], p.returncode,
                                                       p.stderr.decode(errors="replace")[:500]))
        return p.stdout

    def tmpdir(self):
        self.tmp_serial += 1
        d = os.path.join(self.work, "t%d" % self.tmp_serial)
        os.makedirs(d)
        return d

    def put(self, rel, doc, what=None):
        """Write doc at rel; label its items, or record the file as a negative."""
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(doc.data)
        for it in doc.items:
            lab = {"path": rel, "member": SEP.join(it["member"]) or None,
                   "category": it["category"], "what": it["what"]}
            if it.get("prefix"):
                lab["detector_prefix"] = it["prefix"]
            if it.get("secret"):
                lab["secret"] = it["secret"]
            self.findings.append(lab)
        if not doc.items:
            self.negatives.append({"path": rel, "what": what or "no secrets"})

    # ---- secrets ----

    def card(self):
        brand, variants = CARD_BRANDS[self.next("brand", len(CARD_BRANDS))]
        prefixes, lengths = variants[self.next("brand." + brand, len(variants))]
        n = lengths[self.next("len." + brand, len(lengths))]
        body = self.rng.choice(prefixes)
        body += self.rand(DIGITS, n - 1 - len(body))
        return brand, body + luhn_digit(body)

    def card_value(self, ctx, fmt=None):
        brand, num = self.card()
        groups = card_groups(brand, len(num))
        if fmt is None:
            fmt = ("plain", "space", "dash")[self.next("cardfmt", 3)]
        if groups is None:
            fmt = "plain"
        text = num if fmt == "plain" else split_groups(num, groups, " " if fmt == "space" else "-")
        return text, item("payment_card", "card." + brand,
                          "%s %d digits %s in %s" % (brand, len(num), fmt, ctx), num)

    def iban(self, country=None):
        if country is None:
            countries = sorted(IBAN_LAYOUTS)
            country = countries[self.next("iban", len(countries))]
        bban = ""
        for count, kind in re.findall(r"(\d+)([nac])", IBAN_LAYOUTS[country]):
            alpha = {"n": DIGITS, "a": UPPER, "c": DIGITS * 3 + UPPER}[kind]
            bban += self.rand(alpha, int(count))
        return country + iban_check(country, bban) + bban

    def iban_value(self, ctx, fmt=None):
        iban = self.iban()
        if fmt is None:
            fmt = ("compact", "grouped")[self.next("ibanfmt", 2)]
        text = iban if fmt == "compact" else " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
        return text, item("iban", "iban." + iban[:2], "IBAN %s %s in %s" % (iban[:2], fmt, ctx),
                          iban)

    def ssn(self):
        while True:
            area = self.rng.randint(1, 899)
            s = "%03d%02d%04d" % (area, self.rng.randint(1, 99), self.rng.randint(1, 9999))
            if ssn_ok(s):
                return s

    def ssn_value(self, ctx, keyed):
        """An SSN as written in ctx; `keyed` when the field name sits right before it."""
        s = self.ssn()
        style = "dashed"
        if keyed and self.next("ssnkeyed", 2) == 1:
            style = "bare"
        if style == "dashed":
            text = "%s-%s-%s" % (s[:3], s[3:5], s[5:])
        else:
            text = s
        return text, item("ssn", "ssn", "SSN %s in %s" % (style, ctx), s)

    def ssn_phrase(self, ctx):
        """An SSN with its keyword, for free text."""
        s = self.ssn()
        k = self.next("ssnphrase", 4)
        if k == 0:
            text = "SSN: %s" % s
        elif k == 1:
            text = "social security number %s %s %s" % (s[:3], s[3:5], s[5:])
        elif k == 2:
            text = "SSN %s-%s-%s" % (s[:3], s[3:5], s[5:])
        else:
            text = "Social Security No. %s" % s
        return text, item("ssn", "ssn", "SSN with keyword (%s) in %s" % (text.split()[0], ctx), s)

    def clean_token(self, make):
        """A token from make() whose random parts hold no long digit run or example marker."""
        while True:
            t = make()
            rnd = t.split("-")[-1] if t.startswith("xox") else t
            if "EXAMPLE" not in t and not re.search(r"[0-9]{8}", rnd):
                return t

    def aws_key_id(self):
        return self.clean_token(lambda: "AKIA" + self.rand(B32, 16))

    def aws_secret(self):
        return self.clean_token(lambda: self.rand(ALNUM + "/+", 40))

    def github(self, prefix):
        def make():
            body = self.rand(ALNUM, 30)
            crc = zlib.crc32(body.encode()) & 0xFFFFFFFF
            cs = ""
            while crc:
                crc, r = divmod(crc, 62)
                cs = BASE62[r] + cs
            return prefix + body + cs.rjust(6, "0")
        return self.clean_token(make)

    def github_pat(self):
        return self.clean_token(
            lambda: "github_pat_" + self.rand(ALNUM, 22) + "_" + self.rand(ALNUM, 59))

    def slack(self, kind):
        def digits():
            # no issuer starts with 1, 7, 8 or 9: the groups must not look like cards
            return self.rng.choice("1789") + self.rand(DIGITS, self.rng.randint(9, 12))
        return self.clean_token(lambda: "xox%s-%s-%s-%s" % (kind, digits(), digits(),
                                                              self.rand(ALNUM, 24)))

    def stripe(self, n):
        return self.clean_token(lambda: "sk_live_" + self.rand(ALNUM, n))

    def google(self):
        return self.clean_token(lambda: "AIza" + self.rand(ALNUM + "_-", 35))

    def password(self):
        sym = "!@%^*-_+.?"
        while True:
            n = self.rng.randint(12, 20)
            p = self.rand(ALNUM + sym, n)
            if (any(c in UPPER for c in p) and any(c in LOWER for c in p)
                    and any(c in DIGITS for c in p) and p[0] in ALNUM
                    and not re.search(r"[0-9]{5}", p)):
                return p

    def cred(self, kind, ctx):
        """A credential token of `kind` and its label."""
        if kind == "aws_id":
            v, p = self.aws_key_id(), "aws."
        elif kind == "aws_secret":
            v, p = self.aws_secret(), "aws."
        elif kind in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"):
            v, p = self.github(kind), "github"
        elif kind == "github_pat":
            v, p = self.github_pat(), "github"
        elif kind in ("xoxb", "xoxp"):
            v, p = self.slack(kind[3]), "slack"
        elif kind in ("stripe24", "stripe99"):
            v, p = self.stripe(24 if kind == "stripe24" else 99), "stripe"
        elif kind == "google":
            v, p = self.google(), "google"
        elif kind == "password":
            v, p = self.password(), "password"
        else:
            raise ValueError(kind)
        return v, item("credential", p, "%s in %s" % (kind, ctx), v)

    # ---- key material (generated once, reused in many contexts) ----

    def make_keys(self):
        w = self.work
        keys = {}

        def path(n):
            return os.path.join(w, n)

        def read(n):
            with open(path(n), "rb") as f:
                return f.read()

        def clean(gen, check):
            # Regenerate in the (rare) case random key bytes spell a token or a digit run.
            for _ in range(8):
                gen()
                if not ACCIDENT_RE.search(check().decode("latin-1")):
                    return
            raise RuntimeError("key material keeps containing token-like text")

        clean(lambda: self.run(["openssl", "genrsa", "-traditional", "-out", path("rsa.pem"),
                                "2048"]),
              lambda: read("rsa.pem"))
        clean(lambda: self.run(["openssl", "req", "-x509", "-new", "-key", path("rsa.pem"),
                                "-subj", "/CN=corpus.example.org/O=Vigil Corpus", "-days", "365",
                                "-sha256", "-out", path("cert.pem")]),
              lambda: read("cert.pem"))
        self.run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", path("rsa.pem"),
                  "-out", path("rsa8.pem")])
        self.run(["openssl", "rsa", "-in", path("rsa.pem"), "-aes256", "-traditional",
                  "-passout", "pass:corpus-pw", "-out", path("rsa_enc.pem")])
        self.run(["openssl", "pkcs8", "-topk8", "-v2", "aes256", "-in", path("rsa.pem"),
                  "-passout", "pass:corpus-pw", "-out", path("rsa8_enc.pem")])
        clean(lambda: self.run(["openssl", "ecparam", "-genkey", "-name", "prime256v1",
                                "-noout", "-out", path("ec.pem")]),
              lambda: read("ec.pem"))
        clean(lambda: self.run(["openssl", "dsaparam", "-genkey", "-noout", "-out",
                                path("dsa8.pem"), "2048"]),
              lambda: read("dsa8.pem"))
        self.run(["openssl", "pkey", "-in", path("dsa8.pem"), "-traditional",
                  "-out", path("dsa.pem")])
        clean(lambda: self.run(["openssl", "genpkey", "-algorithm", "ed25519",
                                "-out", path("ed8.pem")]),
              lambda: read("ed8.pem"))
        with open(path("ppk_pw"), "w") as f:
            f.write("corpus pass phrase\n")
        # OpenSSH keys and the PuTTY files converted from them (checked together: a PPK's
        # hex MAC is a function of the key, so only a new key gives a new MAC)
        for n, t, extra, ppk, ppk_args in (
                ("ssh_ed", "ed25519", [], "k2.ppk", ["--ppk-param", "version=2"]),
                ("ssh_rsa", "rsa", ["-b", "2048"], "k3.ppk", ["--ppk-param", "version=3"]),
                ("ssh_ecdsa", "ecdsa", ["-b", "256"], "k3e.ppk", ["--new-passphrase", "ppk_pw"]),
                ("ssh_ed_enc", "ed25519", [], None, None)):
            pw = "corpus pass phrase" if n.endswith("_enc") else ""

            def gen(n=n, t=t, extra=extra, pw=pw, ppk=ppk, ppk_args=ppk_args):
                for f in (path(n), path(n + ".pub")):
                    if os.path.exists(f):
                        os.unlink(f)
                self.run(["ssh-keygen", "-q", "-t", t] + extra +
                         ["-N", pw, "-C", "deploy@build-01", "-f", path(n)])
                if ppk:
                    self.run(["puttygen", n, "-O", "private", "-o", ppk] + ppk_args)
            clean(gen, lambda n=n, ppk=ppk: read(n) + (read(ppk) if ppk else b""))
        self.run(["puttygen", "ssh_ed", "-O", "public", "-o", "ssh2.pub"])
        self.run(["openssl", "pkcs12", "-export", "-inkey", path("rsa.pem"), "-in",
                  path("cert.pem"), "-passout", "pass:corpus-pw", "-name", "client",
                  "-out", path("k.p12")])
        try:
            self.run(["openssl", "pkcs12", "-export", "-legacy", "-inkey", path("rsa.pem"),
                      "-in", path("cert.pem"), "-passout", "pass:corpus-pw",
                      "-out", path("legacy.p12")])
            has_legacy = True
        except RuntimeError:
            has_legacy = False
        # public material for the negatives
        self.run(["openssl", "pkcs12", "-export", "-nokeys", "-in", path("cert.pem"),
                  "-passout", "pass:corpus-pw", "-out", path("trust.p12")])
        self.run(["openssl", "x509", "-in", path("cert.pem"), "-outform", "DER",
                  "-out", path("cert.der")])
        self.run(["openssl", "pkey", "-in", path("rsa.pem"), "-pubout",
                  "-out", path("rsa_pub.pem")])
        self.run(["openssl", "pkey", "-in", path("ec.pem"), "-pubout", "-out", path("ec_pub.pem")])
        self.run(["openssl", "rsa", "-in", path("rsa.pem"), "-RSAPublicKey_out",
                  "-out", path("rsa_pub1.pem")])
        self.run(["openssl", "req", "-new", "-key", path("ec.pem"), "-subj",
                  "/CN=www.example.org/O=Vigil Corpus", "-out", path("csr.pem")])

        def k(name, fname, prefix, what):
            keys[name] = {"data": read(fname), "prefix": prefix, "what": what}

        k("rsa_pkcs1", "rsa.pem", "pem.rsa", "PEM PKCS#1 RSA key")
        k("rsa_pkcs8", "rsa8.pem", "pem.pkcs8", "PEM PKCS#8 RSA key")
        k("rsa_pkcs1_enc", "rsa_enc.pem", "pem.rsa_encrypted",
          "PEM legacy-encrypted PKCS#1 RSA key")
        k("pkcs8_enc", "rsa8_enc.pem", "pem.pkcs8_encrypted", "PEM encrypted PKCS#8 key")
        k("ec_sec1", "ec.pem", "pem.ec", "PEM SEC1 EC key")
        k("dsa", "dsa.pem", "pem.dsa", "PEM traditional DSA key")
        k("dsa_pkcs8", "dsa8.pem", "pem.pkcs8", "PEM PKCS#8 DSA key")
        k("ed25519_pkcs8", "ed8.pem", "pem.pkcs8", "PEM PKCS#8 Ed25519 key")
        k("ssh_ed25519", "ssh_ed", "openssh", "OpenSSH Ed25519 key")
        k("ssh_rsa", "ssh_rsa", "openssh", "OpenSSH RSA key")
        k("ssh_ecdsa", "ssh_ecdsa", "openssh", "OpenSSH ECDSA key")
        k("ssh_ed25519_enc", "ssh_ed_enc", "openssh", "OpenSSH Ed25519 key with passphrase")
        k("ppk2", "k2.ppk", "ppk", "PuTTY PPK v2 Ed25519 key")
        k("ppk3", "k3.ppk", "ppk", "PuTTY PPK v3 RSA key")
        k("ppk3_enc", "k3e.ppk", "ppk", "PuTTY PPK v3 encrypted ECDSA key")
        k("p12", "k.p12", "pkcs12", "PKCS#12 with key and certificate")
        if has_legacy:
            k("p12_legacy", "legacy.p12", "pkcs12", "PKCS#12 (legacy RC2/3DES) with key")
        self.pub = {n: read(f) for n, f in (
            ("cert", "cert.pem"), ("cert_der", "cert.der"), ("trust_p12", "trust.p12"),
            ("rsa_spki", "rsa_pub.pem"), ("ec_spki", "ec_pub.pem"),
            ("rsa_pkcs1_pub", "rsa_pub1.pem"), ("csr", "csr.pem"),
            ("ssh_ed_pub", "ssh_ed.pub"), ("ssh_rsa_pub", "ssh_rsa.pub"),
            ("ssh_ecdsa_pub", "ssh_ecdsa.pub"), ("ssh2_pub", "ssh2.pub"))}
        # The PEM keys: everything text-armoured except PuTTY and PKCS#12.
        self.pem_names = ["rsa_pkcs1", "ec_sec1", "dsa", "ed25519_pkcs8", "rsa_pkcs8",
                          "pkcs8_enc", "rsa_pkcs1_enc", "dsa_pkcs8", "ssh_ed25519", "ssh_rsa",
                          "ssh_ecdsa", "ssh_ed25519_enc"]
        return keys

    def pem(self, name=None):
        """(key text, name) in rotation over the PEM-armoured keys."""
        if name is None:
            name = self.pem_names[self.next("pem", len(self.pem_names))]
        return self.keys[name]["data"].decode("ascii"), name

    def key_item(self, name, ctx):
        k = self.keys[name]
        return item("private_key", k["prefix"], "%s in %s" % (k["what"], ctx))

    # ---- number-based documents ----

    def field_value(self, kind, ctx, keyed):
        if kind == "card":
            return self.card_value(ctx)
        if kind == "iban":
            return self.iban_value(ctx)
        return self.ssn_value(ctx, keyed)

    def records(self, spec, n, ctx, keyed):
        """n rows of (column, text, item-or-None); spec is [(column, kind)]."""
        rows = []
        for i in range(n):
            nm = self.name()
            row = [("id", str(self.rng.randint(1, 99999)), None), ("name", nm, None),
                   ("email", self.email(nm), None)]
            for col, kind in spec:
                text, it = self.field_value(kind, ctx, keyed and col == "ssn")
                row.append((col, text, it))
            row += [("city", self.rng.choice(CITIES), None), ("amount", self.amount(), None),
                    ("date", self.date(), None)]
            rows.append(row)
        return rows

    @staticmethod
    def items_of(rows):
        return [it for row in rows for _, _, it in row if it]

    def number_doc(self, ctx, spec, n):
        """A document of ctx type holding n records with the fields of spec."""
        keyed = ctx in ("json", "yaml", "xml", "log")
        rows = self.records(spec, n, ctx, keyed)
        if ctx == "csv":
            buf = io.StringIO()
            delim = (",", ";", "\t")[self.next("csvdelim", 3)]
            wr = csv.writer(buf, delimiter=delim, lineterminator="\r\n" if delim == ";" else "\n")
            wr.writerow([c for c, _, _ in rows[0]])
            for row in rows:
                wr.writerow([t for _, t, _ in row])
            text = buf.getvalue()
        elif ctx == "json":
            objs = [{c: (int(t) if c == "id" else t) for c, t, _ in row} for row in rows]
            if self.next("jsonstyle", 2):
                text = json.dumps({"customers": objs, "exported": self.date()}, indent=2) + "\n"
            else:
                text = "\n".join(json.dumps(o) for o in objs) + "\n"  # JSON lines
        elif ctx == "yaml":
            lines = ["# export %s" % self.date(), "customers:"]
            for row in rows:
                for j, (c, t, _) in enumerate(row):
                    v = t if (c in ("id", "amount", "date") or " " not in t) else '"%s"' % t
                    lines.append("%s%s: %s" % ("  - " if j == 0 else "    ", c, v))
            text = "\n".join(lines) + "\n"
        elif ctx == "xml":
            lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<customers>"]
            for row in rows:
                lines.append('  <customer id="%s">' % row[0][1])
                for c, t, _ in row[1:]:
                    lines.append("    <%s>%s</%s>" % (c, xml_escape(t), c))
                lines.append("  </customer>")
            lines.append("</customers>")
            text = "\n".join(lines) + "\n"
        elif ctx == "log":
            lines = []
            for row in rows:
                lines.append("%s INFO  [worker-%d] %s" % (self.ts(), self.rng.randint(1, 8),
                                                           self.sentence()))
                kv = " ".join('%s=%s' % (c, ('"%s"' % t) if " " in t else t)
                              for c, t, _ in row if c != "email")
                lines.append("%s INFO  [payments] request accepted %s" % (self.ts(), kv))
            text = "\n".join(lines) + "\n"
        elif ctx == "sql":
            cols = [c for c, _, _ in rows[0]]
            lines = ["-- MySQL dump 10.13  Distrib 8.0.35, for Linux (x86_64)", "--",
                     "-- Host: db01    Database: shop", "",
                     "LOCK TABLES `customers` WRITE;",
                     "INSERT INTO `customers` (%s) VALUES" % ",".join("`%s`" % c for c in cols)]
            tuples = []
            for row in rows:
                tuples.append("(" + ",".join(t if c == "id" else "'%s'" % t for c, t, _ in row)
                              + ")")
            lines.append(",\n".join(tuples) + ";")
            lines.append("UNLOCK TABLES;")
            text = "\n".join(lines) + "\n"
        elif ctx == "copy":
            cols = [c for c, _, _ in rows[0]]
            lines = ["--", "-- PostgreSQL database dump", "--", "",
                     "COPY public.customers (%s) FROM stdin;" % ", ".join(cols)]
            for row in rows:
                lines.append("\t".join(t for _, t, _ in row))
            lines += ["\\.", ""]
            text = "\n".join(lines) + "\n"
        elif ctx == "txt":
            lines = ["Notes from the %s call, %s" % (self.rng.choice(WORDS), self.date()), ""]
            its = []
            for row in rows:
                nm = row[1][1]
                parts = []
                for c, t, it in row:
                    if not it:
                        continue
                    if it["category"] == "ssn":
                        # free text: the keyword comes with the number
                        t, it = self.ssn_phrase(ctx)
                        parts.append(t)
                    elif it["category"] == "payment_card":
                        parts.append("%s %s" % (self.rng.choice(
                            ["card", "card number", "paid with", "credit card:", "CC#"]), t))
                    else:
                        parts.append("%s %s" % (self.rng.choice(["IBAN", "account", "IBAN:"]), t))
                    its.append(it)
                lines.append("%s - %s. %s" % (nm, ", ".join(parts), self.sentence()))
            return Doc("\n".join(lines) + "\n", its)
        else:
            raise ValueError(ctx)
        return Doc(text, self.items_of(rows))

    # ---- credential documents ----

    def cred_doc(self, style):
        """A config/source/log file with credentials; returns (suggested file name, Doc)."""
        its = []

        def c(kind):
            v, it = self.cred(kind, style)
            its.append(it)
            return v

        if style == "aws_credentials":
            lines = []
            for prof in ("default", "ci-deploy"):
                lines += ["[%s]" % prof, "aws_access_key_id = %s" % c("aws_id"),
                          "aws_secret_access_key = %s" % c("aws_secret"),
                          "region = eu-central-1", ""]
            return "credentials", Doc("\n".join(lines), its)
        if style == "env":
            text = ("# staging\nNODE_ENV=production\nPORT=8080\n"
                    "AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nGITHUB_TOKEN=%s\n"
                    "SLACK_BOT_TOKEN=%s\nSTRIPE_SECRET_KEY=%s\nGOOGLE_MAPS_KEY=%s\n"
                    "DB_HOST=db.internal\nDB_USER=app\nDB_PASSWORD=%s\n"
                    % (c("aws_id"), c("aws_secret"), c("ghp_"), c("xoxb"), c("stripe24"),
                       c("google"), c("password")))
            return ".env", Doc(text, its)
        if style == "yaml":
            text = ("service:\n  name: billing\n  replicas: 3\nslack:\n  channel: '#ops'\n"
                    "  token: %s\nmaps:\n  api_key: %s\ndatabase:\n  host: db.internal\n"
                    "  port: 5432\n  user: billing\n  password: %s\n"
                    % (c("xoxp"), c("google"), c("password")))
            return "settings.yaml", Doc(text, its)
        if style == "json":
            obj = {"name": "checkout", "version": "2.4.1",
                   "stripe": {"secret_key": c("stripe99"), "webhook_tolerance": 300},
                   "github": {"token": c("github_pat"), "org": "example"},
                   "database": {"host": "10.0.3.12", "user": "checkout",
                                "password": c("password")}}
            return "config.json", Doc(json.dumps(obj, indent=2) + "\n", its)
        if style == "log":
            lines = []
            for _ in range(3):
                lines.append("%s INFO  %s" % (self.ts(), self.sentence()))
            lines.append("%s DEBUG http: GET /repos/example/app Authorization: token %s"
                         % (self.ts(), c("ghs_")))
            lines.append("%s ERROR sts: InvalidClientTokenId: The security token included in "
                         "the request is invalid (AccessKeyId %s)" % (self.ts(), c("aws_id")))
            lines.append("%s INFO  %s" % (self.ts(), self.sentence()))
            return "ci-build.log", Doc("\n".join(lines) + "\n", its)
        if style == "sql":
            text = ("CREATE TABLE api_keys (id int, provider text, secret text);\n"
                    "INSERT INTO api_keys VALUES (1,'stripe','%s'),(2,'google','%s'),"
                    "(3,'github','%s');\n" % (c("stripe24"), c("google"), c("ghr_")))
            return "keys.sql", Doc(text, its)
        if style == "python":
            text = ('"""Deploy helper."""\nimport os\n\nGITHUB_TOKEN = "%s"\n'
                    'SLACK_TOKEN = \'%s\'\n\n\ndef headers():\n'
                    '    return {"Authorization": "token " + GITHUB_TOKEN}\n'
                    % (c("gho_"), c("xoxb")))
            return "deploy_client.py", Doc(text, its)
        if style == "shell":
            text = ("#!/bin/sh\nset -eu\nexport AWS_ACCESS_KEY_ID=%s\n"
                    "export AWS_SECRET_ACCESS_KEY=%s\naws s3 sync ./dist s3://example-site/\n"
                    % (c("aws_id"), c("aws_secret")))
            return "publish.sh", Doc(text, its)
        if style == "txt":
            text = ("Tokens for the migration (rotate after!)\n\nmy github token: %s\n"
                    "bot token %s\nold one was %s\n" % (c("ghu_"), c("ghr_"), c("ghp_")))
            return "tokens.txt", Doc(text, its)
        if style == "git":
            text = ("https://build-bot:%s@github.com\nhttps://x-access-token:%s@github.com\n"
                    % (c("ghp_"), c("ghs_")))
            return ".git-credentials", Doc(text, its)
        if style == "xml":
            text = ('<?xml version="1.0" encoding="utf-8"?>\n<configuration>\n  <appSettings>\n'
                    '    <add key="StripeKey" value="%s" />\n'
                    '    <add key="MapsKey" value="%s" />\n  </appSettings>\n'
                    '  <aws><AccessKeyId>%s</AccessKeyId></aws>\n</configuration>\n'
                    % (c("stripe24"), c("google"), c("aws_id")))
            return "web.config", Doc(text, its)
        if style == "ini":
            text = ("[server]\nhost = 0.0.0.0\nport = 8443\n\n[database]\nhost = db.internal\n"
                    "user = reporting\npassword = %s\ntimeout = 30\n" % c("password"))
            return "app.ini", Doc(text, its)
        if style == "conf":
            text = ("# managed by hand\nlisten 127.0.0.1:6432\nauth_user = pgbouncer\n"
                    "password = %s\npool_mode = transaction\n" % c("password"))
            return "service.conf", Doc(text, its)
        if style == "properties":
            text = ("spring.datasource.url=jdbc:postgresql://db.internal:5432/app\n"
                    "spring.datasource.username=app\nspring.datasource.password=%s\n"
                    "maps.api.key=%s\n" % (c("password"), c("google")))
            return "application.properties", Doc(text, its)
        raise ValueError(style)

    CRED_STYLES = ["aws_credentials", "env", "yaml", "json", "log", "sql", "python", "shell",
                   "txt", "git", "xml", "ini", "conf", "properties"]

    # ---- private-key documents ----

    def key_doc(self, ctx, name=None):
        """A key written in context ctx; returns (suggested file name, Doc)."""
        key, name = self.pem(name)
        it = self.key_item(name, ctx)
        lines = key.strip("\n").split("\n")
        if ctx == "raw":
            fname = {"ssh_ed25519": "id_ed25519", "ssh_rsa": "id_rsa", "ssh_ecdsa": "id_ecdsa",
                     "ssh_ed25519_enc": "id_ed25519"}.get(name, "server.key")
            return fname, Doc(key, [it])
        if ctx == "crlf":
            return "key_windows.pem", Doc("\r\n".join(lines) + "\r\n", [it])
        if ctx == "bundle":
            # haproxy-style: certificate then key in one file; only the key is a finding
            return "haproxy.pem", Doc(self.pub["cert"].decode() + key, [it])
        if ctx == "yaml_block":
            text = ("tls:\n  enabled: true\n  certificate_file: /etc/ssl/app.crt\n"
                    "  private_key: |\n" + "".join("    %s\n" % ln for ln in lines) +
                    "logging:\n  level: info\n")
            return "values.yaml", Doc(text, [it])
        if ctx == "json_escaped":
            obj = {"type": "service_account",
                   "project_id": "corpus-%d" % self.rng.randint(100, 999),
                   "private_key_id": self.hex(40),
                   "private_key": key,
                   "client_email": "ci@corpus.iam.gserviceaccount.com",
                   "client_id": "1" + self.rand(DIGITS, 20),
                   "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                   "token_uri": "https://oauth2.googleapis.com/token"}
            return "service-account.json", Doc(json.dumps(obj, indent=2) + "\n", [it])
        if ctx == "env_escaped":
            text = ('APP_NAME=gateway\nJWT_PRIVATE_KEY="%s"\nLOG_LEVEL=info\n'
                    % key.replace("\n", "\\n"))
            return "jwt.env", Doc(text, [it])
        if ctx == "xml":
            text = ('<?xml version="1.0"?>\n<signing>\n  <alias>release</alias>\n'
                    '  <privateKey>\n%s  </privateKey>\n</signing>\n' % key)
            return "signing.xml", Doc(text, [it])
        if ctx == "heredoc":
            text = ("#!/bin/bash\n# provision a build node\nmkdir -p /etc/ssl/private\n"
                    "cat > /etc/ssl/private/node.key <<'EOF'\n%sEOF\n"
                    "chmod 600 /etc/ssl/private/node.key\n"
                    % key)
            return "provision.sh", Doc(text, [it])
        if ctx == "python":
            text = ('# test fixture left in the tree\nSIGNING_KEY = """%s"""\n\n'
                    'def sign(data):\n    return data\n' % key)
            return "fixtures.py", Doc(text, [it])
        if ctx == "markdown":
            text = ("# Access to the staging box\n\n%s\n\n```\n%s```\n\nAsk ops for the rest.\n"
                    % (self.sentence(), key))
            return "ACCESS.md", Doc(text, [it])
        if ctx == "tfstate":
            obj = {"version": 4, "terraform_version": "1.6.4", "resources": [
                {"mode": "managed", "type": "tls_private_key", "name": "deploy",
                 "instances": [{"attributes": {"algorithm": "RSA", "private_key_pem": key,
                                               "public_key_fingerprint_md5": ":".join(
                                                   self.rand("0123456789abcdef", 2)
                                                   for _ in range(16))}}]}]}
            return "terraform.tfstate", Doc(json.dumps(obj, indent=2) + "\n", [it])
        if ctx == "k8s_b64":
            b = base64.b64encode(key.encode()).decode()
            crt = base64.b64encode(self.pub["cert"]).decode()
            text = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: ingress-tls\n"
                    "  namespace: web\ntype: kubernetes.io/tls\ndata:\n  tls.crt: %s\n"
                    "  tls.key: %s\n" % (crt, b))
            return "ingress-tls.yaml", Doc(text, [it])
        raise ValueError(ctx)

    KEY_CTXS = ["raw", "crlf", "bundle", "yaml_block", "json_escaped", "env_escaped", "xml",
                "heredoc", "python", "markdown", "tfstate", "k8s_b64"]

    # ---- containers ----

    def zip_data(self, entries, method=zipfile.ZIP_DEFLATED, first_stored=None):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, doc in entries:
                zi = zipfile.ZipInfo(name, date_time=ZIP_TIME)
                zi.compress_type = zipfile.ZIP_STORED if name == first_stored else method
                zi.external_attr = 0o644 << 16
                z.writestr(zi, doc.data)
        return Doc(buf.getvalue(), nest(entries))

    def tar_data(self, entries, comp=""):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            for name, doc in entries:
                ti = tarfile.TarInfo(name)
                ti.size = len(doc.data)
                ti.mtime = MTIME
                ti.mode = 0o644
                ti.uname = ti.gname = "backup"
                t.addfile(ti, io.BytesIO(doc.data))
        return Doc(self.compress(buf.getvalue(), comp), nest(entries))

    def compress(self, data, comp):
        if comp == "":
            return data
        if comp == "gz":
            return gzip.compress(data, mtime=0)
        if comp == "bz2":
            return bz2.compress(data)
        if comp == "xz":
            return lzma.compress(data, format=lzma.FORMAT_XZ)
        if comp == "zst":
            return self.run(["zstd", "-q", "-c", "-"], data=data)
        raise ValueError(comp)

    def single(self, doc, comp):
        """A single-file compressed stream: the member is the stream itself (no name)."""
        return Doc(self.compress(doc.data, comp), doc.items)

    def stage(self, entries):
        d = self.tmpdir()
        for name, doc in entries:
            p = os.path.join(d, name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(doc.data)
        return d

    def sevenzip_data(self, entries, args=()):
        d = self.stage(entries)
        out = os.path.join(self.work, "out%d.7z" % self.tmp_serial)
        self.run(["7z", "a", "-t7z", "-bd", "-bso0", "-bsp0", "-y"] + list(args) +
                 [out] + [n for n, _ in entries], cwd=d)
        return Doc(self.slurp(out), nest(entries))

    def cpio_data(self, entries):
        d = self.stage(entries)
        names = "".join(n + "\n" for n, _ in entries).encode()
        return Doc(self.run(["cpio", "-o", "-H", "newc", "--quiet"], data=names, cwd=d),
                   nest(entries))

    def iso_data(self, entries):
        d = self.stage(entries)
        out = os.path.join(self.work, "out%d.iso" % self.tmp_serial)
        self.run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "CORPUS",
                  "-o", out, d])
        return Doc(self.slurp(out), nest(entries))

    def cli_zip(self, entries, password=None):
        d = self.stage(entries)
        out = os.path.join(self.work, "out%d.zip" % self.tmp_serial)
        args = ["zip", "-q", "-X"] + (["-P", password] if password else []) + [out]
        self.run(args + [n for n, _ in entries], cwd=d)
        return Doc(self.slurp(out), [] if password else nest(entries))

    @staticmethod
    def slurp(p):
        with open(p, "rb") as f:
            return f.read()

    # =========================================================================================
    # The corpus

    def build(self):
        self.keys = self.make_keys()
        self.build_number_texts()
        self.build_credentials()
        self.build_private_keys()
        self.build_encrypted_archives()
        self.build_containers()
        self.build_office()
        self.build_encodings()
        self.build_boundaries()
        self.build_long_line()
        self.build_negatives()

    NUMBER_CTXS = ["csv", "json", "yaml", "xml", "log", "sql", "copy", "txt"]
    EXT = {"csv": "csv", "json": "json", "yaml": "yaml", "xml": "xml", "log": "log",
           "sql": "sql", "copy": "sql", "txt": "txt"}

    def build_number_texts(self):
        for kind, col, n, base in (("card", "card_number", 8, "cards"),
                                   ("iban", "iban", 6, "iban"),
                                   ("ssn", "ssn", 5, "ssn")):
            for ctx in self.NUMBER_CTXS:
                doc = self.number_doc(ctx, [(col, kind)], self.rows(n))
                self.put("text/%s/%s_%s.%s" % (base, base, ctx, self.EXT[ctx]), doc)
        spec = [("card_number", "card"), ("iban", "iban"), ("ssn", "ssn")]
        for ctx in ("csv", "json", "sql", "xml", "log", "txt"):
            doc = self.number_doc(ctx, spec, self.rows(4))
            self.put("text/mixed/customers_%s.%s" % (ctx, self.EXT[ctx]), doc)
        # a log with "card=" key/value pairs and a UTF-8 file name with a space
        lines, its = [], []
        for _ in range(self.rows(6)):
            t, it = self.card_value("log card=", fmt="plain")
            lines.append("%s WARN  gateway: retry declined payment card=%s amount=%s"
                         % (self.ts(), t, self.amount()))
            its.append(it)
        self.put("text/cards/payment-gateway.log", Doc("\n".join(lines) + "\n", its))
        self.put("text/données clients/export été.csv",
                 self.number_doc("csv", [("card_number", "card"), ("iban", "iban")],
                                 self.rows(3)))

    def build_credentials(self):
        for i, style in enumerate(self.CRED_STYLES):
            fname, doc = self.cred_doc(style)
            self.put("creds/%02d-%s/%s" % (i, style, fname), doc)
        # AWS key id alone in several places
        for ctx in ("txt", "csv"):
            v, it = self.cred("aws_id", ctx)
            text = ("Rotated key %s on %s\n" % (v, self.date()) if ctx == "txt" else
                    "user,access_key_id,created\nci-bot,%s,%s\n" % (v, self.date()))
            self.put("creds/aws-key-id.%s" % ctx, Doc(text, [it]))

    def build_private_keys(self):
        # every PEM key once as a plain file with a telling name
        for name in self.pem_names:
            self.put("keys/plain/%s.pem" % name, Doc(self.keys[name]["data"],
                                                      [self.key_item(name, "plain file")]))
        # keys in other contexts (rotating over the key types)
        for ctx in self.KEY_CTXS:
            fname, doc = self.key_doc(ctx)
            self.put("keys/%s/%s" % (ctx, fname), doc)
        # EC key with its parameters block, as `openssl ecparam -genkey` writes it
        params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        self.put("keys/ec-with-params.pem", Doc(params + self.keys["ec_sec1"]["data"].decode(),
                                                [self.key_item("ec_sec1", "ecparam output")]))
        # OpenSSH keys where they live
        for name, rel in (("ssh_ed25519", "home/alice/.ssh/id_ed25519"),
                          ("ssh_rsa", "home/bob/.ssh/id_rsa"),
                          ("ssh_ed25519_enc", "home/carol/.ssh/id_ed25519")):
            self.put("keys/" + rel, Doc(self.keys[name]["data"], [self.key_item(name, "~/.ssh")]))
            pub = "ssh_ed_pub" if "ed25519" in name else "ssh_rsa_pub"
            self.put("keys/" + rel + ".pub", Doc(self.pub[pub]), "public key next to the key")
        # two keys in one file
        a, b = self.keys["rsa_pkcs1"]["data"].decode(), self.keys["ed25519_pkcs8"]["data"].decode()
        self.put("keys/two-keys.txt", Doc("old:\n%s\nnew:\n%s" % (a, b),
                                          [self.key_item("rsa_pkcs1", "two keys in one file"),
                                           self.key_item("ed25519_pkcs8", "two keys in one file")]))
        # PuTTY
        for name, rel in (("ppk2", "keys/putty/server-v2.ppk"),
                          ("ppk3", "keys/putty/server-v3.ppk"),
                          ("ppk3_enc", "keys/putty/admin-encrypted.ppk")):
            self.put(rel, Doc(self.keys[name]["data"], [self.key_item(name, "plain .ppk")]))
        self.put("keys/putty/saved-session-key",
                 Doc(self.keys["ppk2"]["data"], [self.key_item("ppk2", "ppk without extension")]))
        # PKCS#12
        for rel in ("keys/pkcs12/client.p12", "keys/pkcs12/client.pfx", "keys/pkcs12/blob.bin"):
            self.put(rel, Doc(self.keys["p12"]["data"],
                              [self.key_item("p12", os.path.basename(rel))]))
        if "p12_legacy" in self.keys:
            self.put("keys/pkcs12/legacy-export.p12",
                     Doc(self.keys["p12_legacy"]["data"], [self.key_item("p12_legacy", "file")]))

    def build_encrypted_archives(self):
        payload = [("finance/q3.csv", self.number_doc("csv", [("card_number", "card")], 3)),
                   ("notes.txt", Doc(self.sentence() + "\n"))]

        def enc(what):
            return [item("encrypted_archive", what.split()[0] + ".encrypted", what)]

        self.put("encrypted/payroll.zip",
                 Doc(self.cli_zip(payload, password="s3cret-pw").data, enc("zip -P")))
        self.put("encrypted/photos.bak",
                 Doc(self.cli_zip(payload, password="s3cret-pw").data, enc("zip -P, odd name")))
        self.put("encrypted/archive.7z",
                 Doc(self.sevenzip_data(payload, ["-ps3cret-pw"]).data, enc("7z -p")))
        self.put("encrypted/headers.7z",
                 Doc(self.sevenzip_data(payload, ["-ps3cret-pw", "-mhe=on"]).data,
                     enc("7z -p -mhe=on (encrypted headers)")))
        d = self.stage(payload)
        out = os.path.join(self.work, "aes.zip")
        self.run(["7z", "a", "-tzip", "-bd", "-bso0", "-bsp0", "-ps3cret-pw", "-mem=AES256", out]
                 + [n for n, _ in payload], cwd=d)
        self.put("encrypted/aes256.zip", Doc(self.slurp(out), enc("zip AES-256, made by 7z -tzip")))
        # an encrypted zip inside a plain tar.gz: the finding is the inner member
        inner = Doc(self.cli_zip(payload, password="pw").data, enc("zip -P inside tar.gz"))
        self.put("encrypted/transfer.tar.gz",
                 self.tar_data([("outbox/secret.zip", inner),
                                ("outbox/README.txt", Doc(self.sentence() + "\n"))], "gz"))

    def payload_set(self, tag):
        """One document per category (plus a clean one) for a multi-member container."""
        ctx = self.NUMBER_CTXS[self.next("payctx", len(self.NUMBER_CTXS))]
        ents = [("export/cards.%s" % self.EXT[ctx],
                 self.number_doc(ctx, [("card_number", "card")], self.rows(3)))]
        ctx = self.NUMBER_CTXS[self.next("payctx", len(self.NUMBER_CTXS))]
        ents.append(("export/accounts.%s" % self.EXT[ctx],
                     self.number_doc(ctx, [("iban", "iban")], self.rows(2))))
        ctx = self.NUMBER_CTXS[self.next("payctx", len(self.NUMBER_CTXS))]
        ents.append(("hr/staff.%s" % self.EXT[ctx],
                     self.number_doc(ctx, [("ssn", "ssn")], self.rows(2))))
        style = self.CRED_STYLES[self.next("paycred", len(self.CRED_STYLES))]
        fname, doc = self.cred_doc(style)
        ents.append(("config/" + fname, doc))
        kctx = self.KEY_CTXS[self.next("paykey", len(self.KEY_CTXS))]
        fname, doc = self.key_doc(kctx)
        ents.append(("keys/" + fname, doc))
        ents.append(("README.md",
                     Doc("# %s\n\n%s\n%s\n" % (tag, self.sentence(), self.sentence()))))
        return ents

    def build_containers(self):
        base = "archives"
        self.put(base + "/backup.zip", self.zip_data(self.payload_set("zip")))
        self.put(base + "/stored.zip",
                 self.zip_data(self.payload_set("zip stored"), method=zipfile.ZIP_STORED))
        self.put(base + "/cli.zip", self.cli_zip(self.payload_set("zip cli")))
        for comp, ext in (("", "tar"), ("gz", "tar.gz"), ("bz2", "tar.bz2"), ("xz", "tar.xz"),
                          ("zst", "tar.zst"), ("gz", "tgz")):
            self.put("%s/backup-%s.%s" % (base, comp or "plain", ext),
                     self.tar_data(self.payload_set(ext), comp))
        self.put(base + "/backup.7z", self.sevenzip_data(self.payload_set("7z")))
        self.put(base + "/initrd.cpio", self.cpio_data(self.payload_set("cpio")))
        self.put(base + "/disk.iso", self.iso_data(self.payload_set("iso")))
        # single-file compressors, one of each category
        for comp in ("gz", "bz2", "xz", "zst"):
            self.put("%s/single/cards.csv.%s" % (base, comp),
                     self.single(self.number_doc("csv", [("card_number", "card")], self.rows(3)),
                                 comp))
            self.put("%s/single/accounts.json.%s" % (base, comp),
                     self.single(self.number_doc("json", [("iban", "iban")], self.rows(2)), comp))
            self.put("%s/single/staff.log.%s" % (base, comp),
                     self.single(self.number_doc("log", [("ssn", "ssn")], self.rows(2)), comp))
            fname, doc = self.cred_doc(self.CRED_STYLES[self.next("paycred",
                                                                  len(self.CRED_STYLES))])
            self.put("%s/single/%s.%s" % (base, fname.lstrip("."), comp), self.single(doc, comp))
            fname, doc = self.key_doc("raw")
            self.put("%s/single/%s.%s" % (base, fname, comp), self.single(doc, comp))
        # binary keys inside archives
        self.put(base + "/certs.zip", self.zip_data([
            ("certs/client.pfx", Doc(self.keys["p12"]["data"], [self.key_item("p12", "zip")])),
            ("certs/server.ppk", Doc(self.keys["ppk3"]["data"], [self.key_item("ppk3", "zip")])),
            ("certs/ca.crt", Doc(self.pub["cert"]))]))
        self.put(base + "/ssh-backup.tar.gz", self.tar_data([
            ("home/dave/.ssh/id_ecdsa", Doc(self.keys["ssh_ecdsa"]["data"],
                                            [self.key_item("ssh_ecdsa", "tar.gz")])),
            ("home/dave/.ssh/id_ecdsa.pub", Doc(self.pub["ssh_ecdsa_pub"])),
            ("home/dave/.ssh/putty.ppk", Doc(self.keys["ppk2"]["data"],
                                             [self.key_item("ppk2", "tar.gz")])),
            ("home/dave/.ssh/known_hosts",
             Doc("build-01 " + self.pub["ssh_ed_pub"].decode().rsplit(" ", 1)[0] + "\n"))], "gz"))
        # nested: zip inside tar.gz inside zip
        inner = self.zip_data([("data/cards.csv",
                                self.number_doc("csv", [("card_number", "card")], self.rows(3))),
                               ("keys/id_rsa", Doc(self.keys["ssh_rsa"]["data"],
                                                   [self.key_item("ssh_rsa", "nested zip")]))])
        fname, cdoc = self.cred_doc("env")
        middle = self.tar_data([("site/db.sql",
                                 self.number_doc("sql", [("card_number", "card"), ("iban", "iban"),
                                                         ("ssn", "ssn")], self.rows(2))),
                                ("site/inner.zip", inner), ("site/" + fname, cdoc)], "gz")
        self.put(base + "/nested.zip",
                 self.zip_data([("README.txt", Doc(self.sentence() + "\n")),
                                ("backup/site.tar.gz", middle)]))
        # a compressed file inside a zip
        gzdoc = self.single(self.number_doc("txt", [("iban", "iban"), ("ssn", "ssn")],
                                            self.rows(2)), "gz")
        self.put(base + "/logs.zip", self.zip_data([("logs/notes.txt.gz", gzdoc)]))

    # ---- office documents ----

    CT_HEAD = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
               '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
               'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>')
    REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

    def rels(self, targets):
        body = "".join('<Relationship Id="rId%d" Type="%s/%s" Target="%s"/>' % (i + 1, self.REL_NS,
                                                                                  t, tgt)
                       for i, (t, tgt) in enumerate(targets))
        return Doc('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships '
                   'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">%s'
                   '</Relationships>' % body)

    def ctypes(self, overrides):
        ov = "".join('<Override PartName="%s" ContentType="%s"/>' % o for o in overrides)
        return Doc(self.CT_HEAD + ov + "</Types>")

    def docx(self, paragraphs):
        """paragraphs: list of (list of run texts, items)."""
        W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
        body, its = [], []
        for runs, pits in paragraphs:
            rx = []
            for i, r in enumerate(runs):
                rpr = "<w:rPr><w:b/></w:rPr>" if i % 2 else ""
                rx.append('<w:r>%s<w:t xml:space="preserve">%s</w:t></w:r>' % (rpr, xml_escape(r)))
            body.append('<w:p w:rsidR="00A1%04X">%s</w:p>' % (self.rng.randint(0, 0xFFFF),
                                                               "".join(rx)))
            its += pits
        doc = Doc('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                  '<w:document xmlns:w="%s"><w:body>%s<w:sectPr/></w:body></w:document>'
                  % (W, "".join(body)), its)
        return self.zip_data([
            ("[Content_Types].xml", self.ctypes([("/word/document.xml",
                                                  "application/vnd.openxmlformats-officedocument."
                                                  "wordprocessingml.document.main+xml")])),
            ("_rels/.rels", self.rels([("officeDocument", "word/document.xml")])),
            ("word/document.xml", doc)])

    def build_office(self):
        # docx: a card split across two runs of one paragraph, an SSN, an IBAN
        t, card = self.card_value("docx split runs", fmt="space")
        cut = len(t) // 2
        ssn_t, ssn_it = self.ssn_phrase("docx")
        ib_t, ib_it = self.iban_value("docx")
        paras = [(["Expense claim - " + self.name()], []),
                 (["Corporate card: " + t[:cut], t[cut:] + " (expires 09/27)"], [card]),
                 (["Employee ", ssn_t], [ssn_it]),
                 (["Refund to IBAN ", ib_t], [ib_it]),
                 ([self.sentence()], [])]
        self.put("office/expense-claim.docx", self.docx(paras))
        # docx with a PEM key pasted as one paragraph per line
        key, name = self.pem("ec_sec1")
        paras = [(["Key for the VPN box:"], [])] + [([ln], []) for ln in key.strip().split("\n")]
        paras[-1] = (paras[-1][0], [self.key_item(name, "docx paragraphs")])
        self.put("office/vpn-howto.docx", self.docx(paras))

        # xlsx: shared strings (card, IBAN) and worksheet cells (numeric Amex, inline SSN)
        S = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        c1, c1it = self.card_value("xlsx sharedStrings", fmt="plain")
        i1, i1it = self.iban_value("xlsx sharedStrings")
        strings = ["Name", "Card", "IBAN", self.name(), c1, i1]
        sst = Doc('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="%s" '
                  'count="%d" uniqueCount="%d">%s</sst>'
                  % (S, len(strings), len(strings),
                     "".join("<si><t>%s</t></si>" % xml_escape(s) for s in strings)),
                  [c1it, i1it])
        while True:
            brand, amex = self.card()
            if brand == "amex":
                break
        amex_it = item("payment_card", "card.amex", "amex numeric cell in xlsx", amex)
        ssn = self.ssn()
        ssn_txt = "%s-%s-%s" % (ssn[:3], ssn[3:5], ssn[5:])
        ssn_it = item("ssn", "ssn", "SSN inline string cell in xlsx", ssn)
        sheet = Doc('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet '
                    'xmlns="%s"><sheetData>'
                    '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
                    '<c r="C1" t="s"><v>2</v></c></row>'
                    '<row r="2"><c r="A2" t="s"><v>3</v></c><c r="B2" t="s"><v>4</v></c>'
                    '<c r="C2" t="s"><v>5</v></c></row>'
                    '<row r="3"><c r="A3" t="inlineStr"><is><t>SSN %s</t></is></c>'
                    '<c r="B3"><v>%s</v></c><c r="C3"><v>%s</v></c></row>'
                    '</sheetData></worksheet>' % (S, ssn_txt, amex, self.amount()),
                    [ssn_it, amex_it])
        wb = Doc('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="%s" '
                 'xmlns:r="%s"><sheets><sheet name="Customers" sheetId="1" r:id="rId1"/>'
                 '</sheets></workbook>' % (S, self.REL_NS))
        ML = "application/vnd.openxmlformats-officedocument.spreadsheetml."
        self.put("office/customers.xlsx", self.zip_data([
            ("[Content_Types].xml", self.ctypes([("/xl/workbook.xml", ML + "sheet.main+xml"),
                                                 ("/xl/worksheets/sheet1.xml",
                                                  ML + "worksheet+xml"),
                                                 ("/xl/sharedStrings.xml",
                                                  ML + "sharedStrings+xml")])),
            ("_rels/.rels", self.rels([("officeDocument", "xl/workbook.xml")])),
            ("xl/workbook.xml", wb),
            ("xl/_rels/workbook.xml.rels", self.rels([("worksheet", "worksheets/sheet1.xml"),
                                                      ("sharedStrings", "sharedStrings.xml")])),
            ("xl/worksheets/sheet1.xml", sheet),
            ("xl/sharedStrings.xml", sst)]))

        # pptx: AWS key pair and a GitHub token on a slide
        A = "http://schemas.openxmlformats.org/drawingml/2006/main"
        P = "http://schemas.openxmlformats.org/presentationml/2006/main"
        kid, kit = self.cred("aws_id", "pptx")
        sec, sit = self.cred("aws_secret", "pptx")
        gh, git = self.cred("ghp_", "pptx")
        paras = ["Deployment credentials", "aws_access_key_id = " + kid,
                 "aws_secret_access_key = " + sec, "GitHub: " + gh]
        sp = ('<p:sp><p:nvSpPr><p:cNvPr id="2" name="Body"/><p:cNvSpPr/><p:nvPr/></p:nvSpPr>'
              '<p:spPr/><p:txBody><a:bodyPr/>%s</p:txBody></p:sp>'
              % "".join('<a:p><a:r><a:rPr lang="en-US"/><a:t>%s</a:t></a:r></a:p>' % xml_escape(x)
                        for x in paras))
        tree = ('<p:cSld><p:spTree><p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/>'
                '</p:nvGrpSpPr><p:grpSpPr/>%s</p:spTree></p:cSld>')
        head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        slide = Doc(head + '<p:sld xmlns:a="%s" xmlns:p="%s" xmlns:r="%s">%s</p:sld>'
                    % (A, P, self.REL_NS, tree % sp), [kit, sit, git])
        layout = Doc(head + '<p:sldLayout xmlns:a="%s" xmlns:p="%s" xmlns:r="%s">%s'
                     '</p:sldLayout>' % (A, P, self.REL_NS, tree % ""))
        master = Doc(head + '<p:sldMaster xmlns:a="%s" xmlns:p="%s" xmlns:r="%s">%s'
                     '<p:clrMap bg1="lt1" tx1="dk1" bg2="lt2" tx2="dk2" accent1="accent1" '
                     'accent2="accent2" accent3="accent3" accent4="accent4" accent5="accent5" '
                     'accent6="accent6" hlink="hlink" folHlink="folHlink"/><p:sldLayoutIdLst>'
                     '<p:sldLayoutId id="2147483649" r:id="rId1"/></p:sldLayoutIdLst>'
                     '</p:sldMaster>' % (A, P, self.REL_NS, tree % ""))
        clr = "".join('<a:%s><a:srgbClr val="%s"/></a:%s>' % (n, v, n) for n, v in (
            ("dk1", "000000"), ("lt1", "FFFFFF"), ("dk2", "1F497D"), ("lt2", "EEECE1"),
            ("accent1", "4F81BD"), ("accent2", "C0504D"), ("accent3", "9BBB59"),
            ("accent4", "8064A2"), ("accent5", "4BACC6"), ("accent6", "F79646"),
            ("hlink", "0000FF"), ("folHlink", "800080")))
        fill = '<a:solidFill><a:schemeClr val="phClr"/></a:solidFill>'
        line = '<a:ln><a:solidFill><a:schemeClr val="phClr"/></a:solidFill></a:ln>'
        theme = Doc(head + '<a:theme xmlns:a="%s" name="Corpus"><a:themeElements>'
                    '<a:clrScheme name="Corpus">%s</a:clrScheme><a:fontScheme name="Corpus">'
                    '<a:majorFont><a:latin typeface="Calibri"/><a:ea typeface=""/>'
                    '<a:cs typeface=""/></a:majorFont><a:minorFont><a:latin typeface="Calibri"/>'
                    '<a:ea typeface=""/><a:cs typeface=""/></a:minorFont></a:fontScheme>'
                    '<a:fmtScheme name="Corpus"><a:fillStyleLst>%s</a:fillStyleLst>'
                    '<a:lnStyleLst>%s</a:lnStyleLst><a:effectStyleLst>%s</a:effectStyleLst>'
                    '<a:bgFillStyleLst>%s</a:bgFillStyleLst></a:fmtScheme></a:themeElements>'
                    '</a:theme>' % (A, clr, fill * 3, line * 3,
                                    "<a:effectStyle><a:effectLst/></a:effectStyle>" * 3, fill * 3))
        pres = Doc(head + '<p:presentation xmlns:a="%s" xmlns:p="%s" xmlns:r="%s">'
                   '<p:sldMasterIdLst><p:sldMasterId id="2147483648" r:id="rId1"/>'
                   '</p:sldMasterIdLst><p:sldIdLst><p:sldId id="256" r:id="rId2"/></p:sldIdLst>'
                   '<p:sldSz cx="9144000" cy="6858000"/><p:notesSz cx="6858000" cy="9144000"/>'
                   '</p:presentation>' % (A, P, self.REL_NS))
        PL = "application/vnd.openxmlformats-officedocument.presentationml."
        self.put("office/deploy-review.pptx", self.zip_data([
            ("[Content_Types].xml", self.ctypes([
                ("/ppt/presentation.xml", PL + "presentation.main+xml"),
                ("/ppt/slides/slide1.xml", PL + "slide+xml"),
                ("/ppt/slideLayouts/slideLayout1.xml", PL + "slideLayout+xml"),
                ("/ppt/slideMasters/slideMaster1.xml", PL + "slideMaster+xml"),
                ("/ppt/theme/theme1.xml",
                 "application/vnd.openxmlformats-officedocument.theme+xml")])),
            ("_rels/.rels", self.rels([("officeDocument", "ppt/presentation.xml")])),
            ("ppt/presentation.xml", pres),
            ("ppt/_rels/presentation.xml.rels", self.rels([("slideMaster",
                                                            "slideMasters/slideMaster1.xml"),
                                                           ("slide", "slides/slide1.xml"),
                                                           ("theme", "theme/theme1.xml")])),
            ("ppt/slides/slide1.xml", slide),
            ("ppt/slides/_rels/slide1.xml.rels", self.rels([("slideLayout",
                                                             "../slideLayouts/slideLayout1.xml")])),
            ("ppt/slideLayouts/slideLayout1.xml", layout),
            ("ppt/slideLayouts/_rels/slideLayout1.xml.rels",
             self.rels([("slideMaster", "../slideMasters/slideMaster1.xml")])),
            ("ppt/slideMasters/slideMaster1.xml", master),
            ("ppt/slideMasters/_rels/slideMaster1.xml.rels",
             self.rels([("slideLayout", "../slideLayouts/slideLayout1.xml"),
                        ("theme", "../theme/theme1.xml")])),
            ("ppt/theme/theme1.xml", theme)]))

        # odt: a PEM key one paragraph per line, an IBAN and a card
        key, name = self.pem("rsa_pkcs8")
        ib, ibit = self.iban_value("odt", fmt="grouped")
        cd, cdit = self.card_value("odt", fmt="dash")
        ps = (["Server handover", "Bank: " + ib, "Card on file " + cd, "Key:"]
              + key.strip().split("\n"))
        content = Doc('<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content '
                      'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
                      'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
                      'office:version="1.2"><office:body><office:text>%s</office:text>'
                      '</office:body></office:document-content>'
                      % "".join("<text:p>%s</text:p>" % xml_escape(p) for p in ps),
                      [ibit, cdit, self.key_item(name, "odt paragraphs")])
        manifest = Doc('<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest '
                       'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
                       'manifest:version="1.2">'
                       '<manifest:file-entry manifest:full-path="/" manifest:media-type='
                       '"application/vnd.oasis.opendocument.text"/><manifest:file-entry '
                       'manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                       '</manifest:manifest>')
        self.put("office/handover.odt", self.zip_data(
            [("mimetype", Doc("application/vnd.oasis.opendocument.text")),
             ("META-INF/manifest.xml", manifest), ("content.xml", content)],
            first_stored="mimetype"))

    # ---- encodings ----

    def build_encodings(self):
        # UTF-16LE with BOM: an Excel "Unicode text" export (tab separated, CRLF)
        rows, its = ["Name\tCard\tIBAN"], []
        for _ in range(self.rows(3)):
            c, cit = self.card_value("UTF-16LE BOM")
            i, iit = self.iban_value("UTF-16LE BOM")
            rows.append("%s\t%s\t%s" % (self.name(), c, i))
            its += [cit, iit]
        text = "\r\n".join(rows) + "\r\n"
        self.put("encodings/export-utf16le-bom.txt",
                 Doc(b"\xff\xfe" + text.encode("utf-16-le"), its))
        # UTF-16LE without BOM: notes with an SSN and an AWS key pair
        s, sit = self.ssn_phrase("UTF-16LE")
        kid, kit = self.cred("aws_id", "UTF-16LE")
        sec, sct = self.cred("aws_secret", "UTF-16LE")
        text = ("Onboarding notes for %s\r\n%s\r\n%s\r\naws_access_key_id = %s\r\n"
                "aws_secret_access_key = %s\r\n%s\r\n"
                % (self.name(), self.sentence(), s, kid, sec, self.sentence()))
        self.put("encodings/notes-utf16le.txt", Doc(text.encode("utf-16-le"), [sit, kit, sct]))
        # UTF-16BE with BOM: a PEM key and a card
        key, name = self.pem("ed25519_pkcs8")
        c, cit = self.card_value("UTF-16BE BOM")
        text = "Card: %s\n%s\n%s" % (c, self.sentence(), key)
        self.put("encodings/key-utf16be-bom.txt",
                 Doc(b"\xfe\xff" + text.encode("utf-16-be"),
                     [cit, self.key_item(name, "UTF-16BE BOM")]))
        # UTF-16BE without BOM: a Slack token and an IBAN
        tok, tit = self.cred("xoxb", "UTF-16BE")
        i, iit = self.iban_value("UTF-16BE")
        text = ("%s\nslack bot token %s\nPayout IBAN %s\n%s\n"
                % (self.sentence(), tok, i, self.sentence()))
        self.put("encodings/chat-utf16be.txt", Doc(text.encode("utf-16-be"), [tit, iit]))
        # Latin-1 with accented letters around the secrets
        c1, c1it = self.card_value("Latin-1", fmt="space")
        c2, c2it = self.card_value("Latin-1 after n°", fmt="plain")
        i, iit = self.iban_value("Latin-1")
        s = self.ssn()
        sit = item("ssn", "ssn", "SSN in Latin-1", s)
        text = ("Relevé de compte - Société Générale, Zürich\n"
                "Numéro de carte : %s (réglée à l'échéance)\n"
                "Carte n°%s, débitée le %s\n"
                "Überweisung an IBAN %s - Begünstigter: Müller\n"
                "Numéro de sécurité sociale américain (SSN) : %s-%s-%s, vérifié\n"
                % (c1, c2, self.date(), i, s[:3], s[3:5], s[5:]))
        self.put("encodings/releve-latin1.txt", Doc(text.encode("latin-1"), [c1it, c2it, iit, sit]))
        # a UTF-16LE file with a PEM key and an IBAN inside a zip
        key, name = self.pem("rsa_pkcs1")
        i, iit = self.iban_value("UTF-16LE in zip")
        text = "\ufeffIBAN %s\r\n%s" % (i, key.replace("\n", "\r\n"))
        self.put("encodings/windows-export.zip", self.zip_data(
            [("export/key.txt", Doc(text.encode("utf-16-le"),
                                    [iit, self.key_item(name, "UTF-16LE in zip")]))]))

    # ---- stream boundaries ----

    def padding(self, n):
        """n bytes of innocuous text lines."""
        out, size = [], 0
        while size < n:
            ln = self.sentence() + "\n"
            out.append(ln)
            size += len(ln)
        s = "".join(out)[:n]
        return s[:-1] + "\n" if n else s

    def build_boundaries(self):
        # File A: a card crossing 256 KiB, a PEM key crossing 512 KiB.
        # File B: a PEM key whose END line crosses 256 KiB, a card crossing 512 KiB.
        for tag in ("a", "b"):
            parts, its, pos = [], [], 0

            def add(s):
                nonlocal pos
                parts.append(s)
                pos += len(s)

            for boundary, kind in ((262144, "card" if tag == "a" else "key"),
                                   (524288, "key" if tag == "a" else "card")):
                if kind == "card":
                    c, it = self.card_value("straddling %d" % boundary, fmt="space")
                    lead = "card number: "
                    add(self.padding(boundary - pos - len(lead) - 7))
                    add(lead + c + "\n")
                else:
                    key, name = self.pem("rsa_pkcs1" if tag == "a" else "ec_sec1")
                    it = self.key_item(name, "straddling %d" % boundary)
                    # a: the boundary falls in the body; b: inside the END line
                    cut = len(key) // 2 if tag == "a" else len(key) - 12
                    add(self.padding(boundary - pos - cut))
                    add(key)
                its.append(it)
            add(self.padding(64 * 1024))
            data = "".join(parts).encode()
            self.put("boundary/big-export-%s.txt" % tag, Doc(data, its))
        # File A again inside a tar.gz: the boundaries now fall in a decompressed member
        fa = self.slurp(os.path.join(self.root, "boundary/big-export-a.txt"))
        its = [dict(f, member=[]) for f in self.findings
               if f["path"] == "boundary/big-export-a.txt"]
        for it in its:
            it["prefix"] = it.pop("detector_prefix", None)
        self.put("boundary/big-export.tar.gz",
                 self.tar_data([("big-export-a.txt", Doc(fa, its))], "gz"))

    def build_long_line(self):
        """One line of ~6 MB of minified JSON with secrets spread along it."""
        rng = self.rng
        chunks, its, size = [], [], 0
        goals = [(1_500_000, "card"), (3_000_000, "aws"), (4_500_000, "key"), (5_990_000, "iban")]
        chunks.append('{"items":[')
        while goals:
            at, kind = goals[0]
            if size >= at:
                goals.pop(0)
                if kind == "card":
                    v, it = self.card_value("6 MB line", fmt="plain")
                    s = '{"payment":{"pan":"%s"}},' % v
                elif kind == "aws":
                    v, it = self.cred("aws_id", "6 MB line")
                    s = '{"aws":{"id":"%s"}},' % v
                elif kind == "key":
                    key, name = self.pem("ssh_ed25519")
                    it = self.key_item(name, "6 MB line (JSON-escaped)")
                    s = '{"deploy_key":%s},' % json.dumps(key)
                else:
                    v, it = self.iban_value("6 MB line", fmt="compact")
                    s = '{"payout":{"iban":"%s"}},' % v
                chunks.append(s)
                size += len(s)
                its.append(it)
                continue
            s = ('{"id":"%s","tag":"%s","n":%d,"ok":%s},'
                 % (self.rand(LOWER, 8), rng.choice(WORDS), rng.randint(0, 9999),
                    rng.choice(["true", "false"])))
            chunks.append(s)
            size += len(s)
        chunks.append('{"end":true}]}')
        self.put("longline/minified.json", Doc("".join(chunks), its))

    # ---- hard negatives ----

    def neg(self, rel, text, what):
        self.put(rel, Doc(text), what)

    def build_negatives(self):
        rng = self.rng
        base = "negatives"
        # Luhn-invalid card-like numbers
        lines = []
        for _ in range(24):
            brand, num = self.card()
            bad = num[:-1] + str((int(num[-1]) + rng.randint(1, 9)) % 10)
            g = card_groups(brand, len(bad))
            fmt = rng.choice(["plain", "space", "dash"]) if g else "plain"
            t = bad if fmt == "plain" else split_groups(bad, g, " " if fmt == "space" else "-")
            lines.append("card %s declined: invalid number" % t)
        self.neg(base + "/luhn-invalid.txt", "\n".join(lines) + "\n",
                 "card-like numbers failing Luhn")
        # valid card numbers inside longer digit runs or glued to letters / inside hex digests
        lines = []
        for i in range(16):
            brand, num = self.card()
            k = i % 4
            if k == 0:
                lines.append("serial %s%s%s" % (self.rand(DIGITS, 3), num, self.rand(DIGITS, 2)))
            elif k == 1:
                lines.append("ref TX%sZQ" % num)
            elif k == 2:
                h = self.rand("abcdef", 3) + num
                h += self.rand("0123456789abcdef", 64 - len(h) - 1) + "e"
                lines.append("%s  build/artifact-%d.tar" % (h, i))
            else:
                lines.append("id=ab%scd" % num)
        self.neg(base + "/digit-runs.txt", "\n".join(lines) + "\n",
                 "valid card numbers inside longer digit runs, glued to letters, in hex digests")
        # epoch timestamps
        lines = []
        for _ in range(40):
            s = rng.randint(1_500_000_000, 1_800_000_000)
            lines.append("ts=%d ts_ms=%d%03d event=%s" % (s, s, rng.randint(0, 999),
                                                           rng.choice(WORDS)))
        self.neg(base + "/timestamps.log", "\n".join(lines) + "\n", "10 and 13 digit epochs")
        # UUIDs
        lines = []
        while len(lines) < 40:
            u = "%s-%s-4%s-%s%s-%s" % (self.rand("0123456789abcdef", 8),
                                       self.rand("0123456789abcdef", 4),
                                       self.rand("0123456789abcdef", 3), rng.choice("89ab"),
                                       self.rand("0123456789abcdef", 3),
                                       self.rand("0123456789abcdef", 12))
            if not any(g.isdigit() for g in u.split("-")):
                lines.append('{"request_id": "%s"}' % u)
        self.neg(base + "/uuids.jsonl", "\n".join(lines) + "\n", "UUIDs")
        # phone numbers
        phones = ["(555) 234-5678", "+1 415 555 0132", "+1-202-555-0143", "202.555.0187",
                  "+44 20 7946 0958", "+44 7700 900123", "+49 30 901820", "+49 1512 3456789",
                  "+33 1 23 45 67 89", "+91 98765 43210", "+86 138 0013 8000",
                  "0049 30 2345 6789", "+61 2 9876 5432", "+7 495 123-45-67", "+31 6 12345678"]
        rows = ["name,phone,city"] + ["%s,%s,%s" % (self.name(), p, rng.choice(CITIES))
                                      for p in phones]
        self.neg(base + "/phones.csv", "\n".join(rows) + "\n", "US and international phones")
        # hex digests
        lines = []
        for algo, n in (("md5", 32), ("sha1", 40), ("sha256", 64)):
            for i in range(10):
                while True:
                    h = self.rand("0123456789abcdef", n)
                    if not re.search(r"[0-9]{10}", h):
                        break
                lines.append("%s  pkg/%s-%d.deb   # %s" % (h, rng.choice(WORDS), i, algo))
        self.neg(base + "/checksums.txt", "\n".join(lines) + "\n", "md5/sha1/sha256 lists")
        # version strings and addresses
        self.neg(base + "/versions.txt",
                 "openssl 3.0.11-1~deb12u2\nlinux-image-6.1.0-13-amd64 6.1.55-1\n"
                 "Version 4.19.2 (build 20231128.1)\nnode v18.19.0, npm 10.2.3\n"
                 "chrome/120.0.6099.109\nlibc6 2.36-9+deb12u3\npython 3.11.2\n"
                 "release 2024.01.15-rc.3+build.4521\nlisten 10.20.30.40:8443\n"
                 "mac 00:1a:2b:3c:4d:5e\n", "version strings and addresses")
        # IBANs: bad checksum, wrong length, unknown country
        lines = []
        for i in range(12):
            good = self.iban()
            k = i % 3
            if k == 0:
                bad = good[:2] + "%02d" % ((int(good[2:4]) + rng.randint(1, 50)) % 100) + good[4:]
                if iban_ok(bad):
                    bad = good[:-1] + str((int(good[-1], 36) + 1) % 10)
                what = "bad checksum"
            elif k == 1:
                cc = good[:2]
                bban = good[4:] + rng.choice(DIGITS)  # one character too many
                bad = cc + iban_check(cc, bban) + bban
                what = "wrong length"
            else:
                bban = good[4:]
                bad = "ZZ" + iban_check("ZZ", bban) + bban
                what = "unknown country"
            grouped = " ".join(bad[j:j + 4] for j in range(0, len(bad), 4))
            lines.append("IBAN: %s  (%s)" % (grouped if i % 2 else bad, what))
        self.neg(base + "/iban-invalid.txt", "\n".join(lines) + "\n",
                 "IBANs with bad check digits, wrong length, unknown country")
        # invalid SSNs, with the keyword
        bad_ssns = ["000-12-3456", "666-12-3456", "912-34-5678", "987-65-4321", "123-00-4567",
                    "234-56-0000", "078-05-1120", "219-09-9999", "457-55-5462", "123-45-6789"]
        lines = ["SSN: %s" % s for s in bad_ssns]
        lines += ["SSN: %s" % s.replace("-", "") for s in bad_ssns[:4]]
        self.neg(base + "/ssn-invalid.txt", "\n".join(lines) + "\n", "invalid SSNs with keyword")
        lines = []
        for _ in range(20):
            lines.append("%s %d shipped on %s" % (rng.choice(["order", "tracking", "invoice no.",
                                                              "ticket", "batch"]),
                                                   rng.randint(100_000_000, 899_999_999),
                                                   self.date()))
        self.neg(base + "/nine-digit-ids.txt", "\n".join(lines) + "\n",
                 "9-digit numbers without an SSN keyword")
        # public keys, certificates, CSR
        for n, rel in (("rsa_spki", "pki/rsa_public.pem"), ("ec_spki", "pki/ec_public.pem"),
                       ("rsa_pkcs1_pub", "pki/rsa_pkcs1_public.pem"), ("cert", "pki/server.crt"),
                       ("cert_der", "pki/server.der"), ("csr", "pki/request.csr"),
                       ("ssh_ed_pub", "pki/id_ed25519.pub"), ("ssh_rsa_pub", "pki/id_rsa.pub"),
                       ("ssh2_pub", "pki/putty_public.pub")):
            self.put("%s/%s" % (base, rel), Doc(self.pub[n]), "public material: " + n)
        ak = "".join(['from="10.0.0.0/8",no-pty %s' % self.pub["ssh_ed_pub"].decode(),
                      self.pub["ssh_rsa_pub"].decode(), self.pub["ssh_ecdsa_pub"].decode()])
        self.neg(base + "/pki/authorized_keys", ak, "authorized_keys")
        self.neg(base + "/pki/chain.pem", (self.pub["cert"] * 2).decode(), "certificate chain")
        self.put(base + "/pki/truststore.p12", Doc(self.pub["trust_p12"]),
                 "PKCS#12 with certificates only")
        self.put(base + "/pki/truststore.bin", Doc(self.pub["trust_p12"]),
                 "PKCS#12 with certificates only, odd name")
        # placeholder PEM blocks
        self.neg(base + "/docs/key-setup.md",
                 "# Key setup\n\nPaste your key like this:\n\n```\n"
                 "-----BEGIN RSA PRIVATE KEY-----\n<your key here>\n-----END RSA PRIVATE KEY-----\n"
                 "```\n\nor:\n\n```\n-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n"
                 "```\n\nA truncated example:\n\n```\n-----BEGIN RSA PRIVATE KEY-----\n"
                 "MIIEpAIBAAKCAQEA...\n-----END RSA PRIVATE KEY-----\n```\n\n"
                 "```\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA...\n"
                 "-----END OPENSSH PRIVATE KEY-----\n```\n\nEmpty:\n\n"
                 "-----BEGIN EC PRIVATE KEY-----\n-----END EC PRIVATE KEY-----\n",
                 "placeholder PEM blocks")
        self.neg(base + "/src/pem_parse.py",
                 'import re\n\nBEGIN = "-----BEGIN RSA PRIVATE KEY-----"\n'
                 'END = "-----END RSA PRIVATE KEY-----"\n'
                 'PEM_RE = re.compile(r"-----BEGIN (.*) PRIVATE KEY-----(.*?)'
                 '-----END \\1 PRIVATE KEY-----", re.S)\n\n'
                 'def is_key(text):\n    return BEGIN in text and END in text\n',
                 "code handling PEM markers")
        # random base64
        blob = bytes(rng.getrandbits(8) for _ in range(24 * 1024))
        b64 = base64.b64encode(blob).decode()
        while ACCIDENT_RE.search(b64):
            blob = bytes(rng.getrandbits(8) for _ in range(24 * 1024))
            b64 = base64.b64encode(blob).decode()
        wrapped = "\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
        self.neg(base + "/blobs/attachment.b64", wrapped + "\n", "random base64, wrapped")
        self.neg(base + "/blobs/payload.json",
                 json.dumps({"name": "thumbnail.png", "data": b64[:8000]}) + "\n",
                 "random base64 in JSON")
        # AWS documentation example keys
        self.neg(base + "/creds/aws-example.ini",
                 "# from the AWS documentation\n[default]\n"
                 "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                 "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
                 "AWS example keys")
        # password placeholders
        self.neg(base + "/creds/settings.ini",
                 "[db]\nuser = app\npassword = ${DB_PASSWORD}\n\n[smtp]\npassword = <password>\n"
                 "password_min_length = 12\npassword_expiry_days = 90\n",
                 "password placeholders (ini)")
        self.neg(base + "/creds/config.yaml",
                 "db:\n  user: app\n  password: changeme\ncache:\n  password: \"\"\n"
                 "smtp:\n  password: ${SMTP_PASSWORD}\n", "password placeholders (yaml)")
        self.neg(base + "/creds/settings.py",
                 'import os\n\nDB = {\n    "user": "app",\n    "password": None,\n}\n'
                 'password = None\npassword=os.environ["DB_PASSWORD"]\n'
                 'smtp_password = os.environ.get("SMTP_PASSWORD", "")\n',
                 "password placeholders (python)")
        self.neg(base + "/creds/app.env",
                 "DB_USER=app\nDB_PASSWORD=\nREDIS_PASSWORD=${REDIS_PASSWORD}\n",
                 "password placeholders (.env)")
        self.neg(base + "/creds/app.json",
                 json.dumps({"database": {"user": "app", "password": ""},
                             "smtp": {"password": "<password>"}}, indent=2) + "\n",
                 "password placeholders (json)")
        # documentation-style token placeholders (beyond the brief: low-entropy fillers)
        self.neg(base + "/creds/token-placeholders.md",
                 "Set `GITHUB_TOKEN=ghp_" + "x" * 36 + "`\n"
                 "Stripe: `sk_live_" + "x" * 24 + "`\n"
                 "Slack: `xoxb-your-bot-token-here`\n"
                 "AWS: `AKIA" + "X" * 16 + "`\n", "token placeholders")
        # clean archives and documents
        clean = [("README.md", Doc("# Project\n\n%s\n%s\n" % (self.sentence(), self.sentence()))),
                 ("src/app.yaml", Doc("name: app\nport: 8080\nreplicas: 3\n")),
                 ("data/phones.csv", Doc("\n".join(rows) + "\n"))]
        self.put(base + "/archives/clean.zip", self.zip_data(clean), "zip without secrets")
        self.put(base + "/archives/clean.tar.gz", self.tar_data(clean, "gz"),
                 "tar.gz without secrets")
        self.put(base + "/archives/no-password.zip", self.cli_zip(clean), "zip without password")
        self.put(base + "/archives/clean.7z", self.sevenzip_data(clean), "7z without password")
        self.put(base + "/archives/certs.tar.xz", self.tar_data(
            [("ca.crt", Doc(self.pub["cert"])), ("ca.der", Doc(self.pub["cert_der"])),
             ("truststore.p12", Doc(self.pub["trust_p12"]))], "xz"), "public material in tar.xz")
        self.put(base + "/office/minutes.docx",
                 self.docx([(["Minutes %s" % self.date()], []),
                            (["Call ", "+44 20 7946 0958", " before 17:00"], []),
                            (["Tracking ", "1Z999AA10123456784"], []),
                            ([self.sentence()], [])]), "docx without secrets")
        # UTF-16 text without secrets
        text = "\r\n".join("%s +49 30 %d ts=%d" % (self.sentence(), rng.randint(100000, 999999),
                                                   rng.randint(1_600_000_000, 1_700_000_000))
                           for _ in range(20))
        self.put(base + "/encodings/log-utf16le.txt",
                 Doc(b"\xff\xfe" + text.encode("utf-16-le")), "UTF-16LE without secrets")

    # ---- labels ----

    def write_labels(self):
        for f in self.findings:
            if f.get("member") is None:
                f.pop("member", None)
        labels = {
            "version": 1,
            "seed": self.seed,
            "scale": self.scale,
            "notes": ["JKS/JCEKS keystores are not generated (no Java here)",
                      "RAR archives are not generated (no rar creator in Debian main)",
                      "key material is random on every run; labels depend on the seed only",
                      "this file holds the test secrets: evaluate.py ignores findings in it"],
            "findings": self.findings,
            "negatives": self.negatives,
        }
        with open(os.path.join(self.root, "labels.json"), "w") as f:
            json.dump(labels, f, indent=1, ensure_ascii=False)
            f.write("\n")


def prepare(outdir):
    """Create outdir, or empty it if it holds an earlier corpus; refuse anything else."""
    if not os.path.exists(outdir):
        os.makedirs(outdir)
        return
    entries = os.listdir(outdir)
    if not entries:
        return
    if "labels.json" not in entries:
        sys.exit("make_corpus: %s is not empty and holds no labels.json; refusing to touch it"
                 % outdir)
    for e in entries:
        p = os.path.join(outdir, e)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)


def main():
    ap = argparse.ArgumentParser(description="Build the labelled corpus for vigil scan.")
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=int, default=1,
                    help="multiplies the number of card/IBAN/SSN positives")
    args = ap.parse_args()
    if args.scale < 1:
        ap.error("--scale must be >= 1")
    outdir = os.path.abspath(args.outdir)
    prepare(outdir)
    c = Corpus(outdir, args.seed, args.scale)
    try:
        c.build()
    finally:
        shutil.rmtree(c.work, ignore_errors=True)
    c.write_labels()
    cats = {}
    for f in c.findings:
        cats[f["category"]] = cats.get(f["category"], 0) + 1
    print("make_corpus: %d labelled findings (%s), %d negative files in %s"
          % (len(c.findings), ", ".join("%s %d" % kv for kv in sorted(cats.items())),
             len(c.negatives), outdir))


if __name__ == "__main__":
    main()
