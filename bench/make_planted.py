#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generates the benchmark's planted corpus: a host-like tree of log, CSV, JSON, text,
config and binary files (~500 MB by default) with a few hundred secrets of each kind planted
in it, deterministic for a given seed.

Usage: make_planted.py DIR [--size-mb N] [--per-kind N] [--seed N]

The secrets are real in form: card numbers in the schemes' IIN ranges with a valid Luhn
digit, IBANs with ISO 13616 mod-97 check digits, SSNs the SSA could issue, AWS key pairs,
GitHub tokens with their CRC32 checksum, and private keys converted and checked by
`openssl` (the key material comes from the seeded generator so that the tree is the same
byte for byte on every run). The filler around them is built to contain no secret, but it
is full of near misses (long digit runs that fail Luhn, hex digests, base64 blobs, UUIDs)
so that the detectors' triggers fire as they do on real data.

DIR/.vigil-bench-manifest.json records the parameters, and for each planted secret its kind,
the category vigil reports it under, its file (and archive member) and line: never its value.
bench/run.sh matches vigil's findings against it. Running the script again with the same
parameters on a complete tree does nothing.
"""

import argparse
import binascii
import gzip
import hashlib
import io
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile

GENERATOR_VERSION = 1
MANIFEST = ".vigil-bench-manifest.json"

WORDS = """the of and to in is that for it as was with be by on not he this are or his from
at which but have an they you were her she there been one all we their has would when if so
no will more can said who what about out up them into do time only could new them other
some two may then first any like now my such over our man me even most made after also did
many before must through back years where much your way well down should because each just
those people how too little state good very make world still own see men work long here get
both between life being under never day same another know while last might great old year
off come since against go came right used take three states himself few house use during
without again place around however home small found thought went say part once general high
upon school every does got united left number course war until always away something fact
though water less public put think almost hand enough far took head yet government system
better set told nothing night end why called did didn't eyes find going look asked later
knew point next program city business give group toward young days let room president side
social given present several order national possible rather second face per among form
important often things looking early hands large big need four within felt along children
saw best church ever least power development light thing seemed family interest want members
mind country area others done turned although open god service certain kind problem began
different door thus help sense means whole matter perhaps itself york times law human line
above name example action company local show whether five history gave today either act feet
across taken past quite anything seen having death week experience body word half really
field am car words already themselves information tell together college shall money period
held keep sure probably free seems political real cannot behind miss question air office
making brought whose special major heard problems ago became federal become study moment
available known result street economic boy reason change position south board individual
job areas society west close turn love community true court force full seem am wife future
age voice center woman control common necessary following front sometimes policy six girl
clear further land run students provide feel party able mother music education university
child effect level stood military town short morning total outside rate figure class art
century washington north usually leave therefore evidence percent view value report invoice
shipment customer account balance deploy cluster server backup release update schedule
meeting review budget quarter revenue forecast migration database latency throughput""".split()

FIRST = """james mary john patricia robert jennifer michael linda william elizabeth david
barbara richard susan joseph jessica thomas sarah charles karen daniel nancy matthew lisa
anthony betty mark margaret donald sandra steven ashley paul kimberly andrew emily joshua
donna kenneth michelle kevin dorothy brian carol george amanda edward melissa ronald deborah
hans anna lukas marie jan sophie pierre camille luca giulia pablo lucia""".split()

LAST = """smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez
lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white
harris sanchez clark ramirez lewis robinson walker young allen king wright scott torres
nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter roberts
mueller schmidt schneider fischer dubois moreau rossi russo fernandez""".split()

CITIES = """Springfield Riverside Franklin Greenville Bristol Clinton Fairview Salem Madison
Georgetown Arlington Ashland Berlin Hamburg Munich Paris Lyon Madrid Rome Milan Amsterdam
Vienna Zurich Warsaw London Manchester Dublin Austin Denver Portland Seattle Boston""".split()

PRODUCTS = """widget gadget sprocket bracket adapter cable charger monitor keyboard mouse
headset webcam router switch drive bundle license subscription voucher""".split()

PATHS = """/ /index.html /api/v1/orders /api/v1/users /api/v1/login /api/v2/search
/static/app.js /static/style.css /images/logo.png /health /metrics /cart /checkout
/account/settings /docs/getting-started /robots.txt /favicon.ico""".split()

AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "curl/7.88.1",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "kube-probe/1.28",
]

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


# ---------------------------------------------------------------- secrets


def luhn_digit(body):
    """The check digit that makes body + digit pass Luhn."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


CARD_SCHEMES = [
    # (weight, prefixes, length)
    (40, ["4"], 16),
    (20, ["51", "52", "53", "54", "55", "2221", "2720", "2300"], 16),
    (10, ["34", "37"], 15),
    (8, ["6011", "65", "644"], 16),
    (6, ["3528", "3589"], 16),
    (4, ["36", "38"], 14),
    (4, ["4"], 13),
]


def make_card(rng):
    weights = [s[0] for s in CARD_SCHEMES]
    _, prefixes, n = rng.choices(CARD_SCHEMES, weights)[0]
    body = rng.choice(prefixes)
    while len(body) < n - 1:
        body += str(rng.randrange(10))
    digits = body + luhn_digit(body)
    style = rng.random()
    if n == 15 and style < 0.5:
        return f"{digits[:4]} {digits[4:10]} {digits[10:]}"
    if n == 14 and style < 0.5:
        return f"{digits[:4]} {digits[4:10]} {digits[10:]}"
    if style < 0.55:
        return digits
    sep = " " if style < 0.85 else "-"
    return sep.join(digits[i:i + 4] for i in range(0, n, 4))


def luhn_ok(digits):
    return luhn_digit(digits[:-1]) == digits[-1]


def near_miss_number(rng, n=16):
    """A digit run shaped like a card that fails Luhn: order and tracking numbers."""
    body = str(rng.randrange(2, 7)) + "".join(str(rng.randrange(10)) for _ in range(n - 2))
    good = luhn_digit(body)
    return body + str((int(good) + 1 + rng.randrange(9)) % 10)


# Country, BBAN layout (n = digits, a = upper-case letters, c = alphanumeric).
IBAN_LAYOUTS = [
    ("DE", "8n10n"), ("GB", "4a6n8n"), ("FR", "5n5n11c2n"), ("NL", "4a10n"),
    ("ES", "4n4n1n1n10n"), ("IT", "1a5n5n12c"), ("CH", "5n12c"), ("AT", "5n11n"),
    ("BE", "3n7n2n"), ("PL", "8n16n"),
]


def iban_check(cc, bban):
    rearranged = bban + cc + "00"
    num = "".join(str(int(ch, 36)) for ch in rearranged)
    return f"{98 - int(num) % 97:02d}"


def make_iban(rng):
    cc, layout = rng.choice(IBAN_LAYOUTS)
    bban = ""
    num = ""
    for ch in layout:
        if ch.isdigit():
            num += ch
            continue
        k = int(num)
        num = ""
        alphabet = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                    "c": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}[ch]
        bban += "".join(rng.choice(alphabet) for _ in range(k))
    iban = cc + iban_check(cc, bban) + bban
    if rng.random() < 0.5:
        return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    return iban


def make_ssn(rng):
    while True:
        area, group, serial = rng.randrange(1, 900), rng.randrange(1, 100), rng.randrange(1, 10000)
        if area != 666 and (area, group, serial) not in ((78, 5, 1120), (219, 9, 9999),
                                                         (457, 55, 5462), (123, 45, 6789)):
            return f"{area:03d}-{group:02d}-{serial:04d}"


def make_aws(rng):
    key_id = "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
    while True:
        secret = "".join(rng.choice(B64) for _ in range(40))
        if (any(c.islower() for c in secret) and any(c.isupper() for c in secret)
                and any(c.isdigit() for c in secret) and "//" not in secret
                and secret.count("/") < 4 and not secret.startswith("/")
                and "example" not in secret.lower()):
            return key_id, secret


def b62(n, width):
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = B62[r] + out
    return out.rjust(width, "0")


def make_github(rng):
    prefix = rng.choice(["ghp_", "ghp_", "ghp_", "gho_", "ghs_", "ghu_"])
    body = "".join(rng.choice(B62) for _ in range(30))
    return prefix + body + b62(binascii.crc32(body.encode()), 6)


# Private keys: the key material comes from the seeded generator; openssl builds the PEM
# (computing the public parts) and checks it.

SMALL_PRIMES = [p for p in range(3, 2000) if all(p % q for q in range(2, int(p ** 0.5) + 1))]


def is_probable_prime(n, rng):
    for p in SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(8):  # openssl's -check tests the primes again
        a = rng.randrange(2, n - 2)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def make_prime(rng, bits):
    while True:
        n = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if is_probable_prime(n, rng):
            return n


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der_int(v):
    b = v.to_bytes(v.bit_length() // 8 + 1, "big")
    return b"\x02" + der_len(len(b)) + b


def der_seq(*items):
    body = b"".join(items)
    return b"\x30" + der_len(len(body)) + body


def rsa_der(rng, bits):
    e = 65537
    while True:
        p, q = make_prime(rng, bits // 2), make_prime(rng, bits // 2)
        phi = (p - 1) * (q - 1)
        if p != q and math.gcd(e, phi) == 1:
            break
    if p < q:
        p, q = q, p
    d = pow(e, -1, phi)
    return der_seq(der_int(0), der_int(p * q), der_int(e), der_int(d), der_int(p), der_int(q),
                   der_int(d % (p - 1)), der_int(d % (q - 1)), der_int(pow(q, -1, p)))


EC_CURVES = {  # name: (OID DER, scalar bytes)
    "prime256v1": (bytes.fromhex("06082a8648ce3d030107"), 32),
    "secp384r1": (bytes.fromhex("06052b81040022"), 48),
}


def ec_der(rng, curve):
    oid, size = EC_CURVES[curve]
    scalar = rng.getrandbits(size * 8 - 8).to_bytes(size, "big")  # below the group order
    params = b"\xa0" + der_len(len(oid)) + oid
    return der_seq(der_int(1), b"\x04" + der_len(size) + scalar, params)


def openssl(args, data):
    p = subprocess.run(["openssl"] + args, input=data, capture_output=True, check=False)
    if p.returncode != 0:
        sys.exit(f"make_planted: openssl {' '.join(args)} failed: {p.stderr.decode().strip()}")
    return p.stdout


def make_pem(rng):
    """One private key in PEM, in one of the common flavours."""
    r = rng.random()
    if r < 0.2:
        pem = openssl(["rsa", "-inform", "DER", "-traditional", "-check"], rsa_der(rng, 2048))
    elif r < 0.35:
        pem = openssl(["pkey", "-inform", "DER"], rsa_der(rng, 2048))
    elif r < 0.45:
        pem = openssl(["rsa", "-inform", "DER", "-traditional", "-check"], rsa_der(rng, 1024))
    elif r < 0.65:
        pem = openssl(["ec", "-inform", "DER"], ec_der(rng, "prime256v1"))
    elif r < 0.8:
        ec = openssl(["ec", "-inform", "DER"], ec_der(rng, rng.choice(list(EC_CURVES))))
        pem = openssl(["pkey"], ec)
    else:
        seed = rng.getrandbits(256).to_bytes(32, "big")
        pem = openssl(["pkey", "-inform", "DER"],
                      bytes.fromhex("302e020100300506032b657004220420") + seed)
    text = pem.decode()
    # `openssl rsa -check` prints "RSA key ok" before the key.
    text = text[text.index("-----BEGIN"):]
    openssl(["pkey", "-check", "-noout"], text.encode())
    return text


# ---------------------------------------------------------------- filler

RE_DIGIT_RUN = re.compile(r"[0-9](?:[ -]?[0-9]){11,}")
RE_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}")
RE_OTHER = re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{4}|(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}|gh[pousr]_|"
                      r"github_pat_|xox[abposr]-|[sr]k_live_|AIza|PRIVATE KEY|PuTTY|LS0t|"
                      r"(?i:ssn|social security|soc\.? ?sec|pass(?:w(?:or)?d|wort|phrase)?\W*[=:]|pwd\W*[=:]|"
                      r"aws_?secret)")


def looks_secret(line):
    """Whether a filler line might hold something a detector would confirm."""
    if RE_OTHER.search(line):
        return True
    # A card validator judges a whole digit run, or the parts of it between spaces.
    for m in RE_DIGIT_RUN.finditer(line):
        run = m.group()
        for part in [run] + run.split(" "):
            digits = part.replace(" ", "").replace("-", "")
            if 12 <= len(digits) <= 19 and luhn_ok(digits):
                return True
    for m in RE_IBAN.finditer(line):
        compact = m.group().replace(" ", "")
        for j in range(15, len(compact) + 1):
            if iban_check(compact[:2], compact[4:j]) == compact[2:4]:
                return True
    return False



class Filler:
    """Pools of filler lines per file type; files are drawn from them."""

    def __init__(self, rng, pool=12000):
        self.rng = rng
        self.dropped = 0
        self.pools = {
            "log": self.pool(self.log_line, pool),
            "access": self.pool(self.access_line, pool),
            "csv": self.pool(self.csv_row, pool),
            "json": self.pool(self.json_record, pool),
            "text": self.pool(self.paragraph, pool // 4),
            "conf": self.pool(self.conf_line, pool // 4),
        }

    def pool(self, make, n):
        # Each pool line is repeated hundreds of times in the tree: one that happened to
        # hold a valid secret would swamp the planted counts, so such lines are dropped.
        out = []
        while len(out) < n:
            line = make()
            if looks_secret(line):
                self.dropped += 1
            else:
                out.append(line)
        return out

    def words(self, n):
        return " ".join(self.rng.choice(WORDS) for _ in range(n))

    def sentence(self):
        s = self.words(self.rng.randrange(5, 18))
        return s[0].upper() + s[1:] + self.rng.choice([".", ".", ".", "?", "!"])

    def paragraph(self):
        return " ".join(self.sentence() for _ in range(self.rng.randrange(2, 7))) + "\n"

    def ts(self):
        r = self.rng
        return (f"2024-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d}T"
                f"{r.randrange(24):02d}:{r.randrange(60):02d}:{r.randrange(60):02d}."
                f"{r.randrange(1000):03d}Z")

    def ip(self):
        r = self.rng
        return f"{r.randrange(1, 224)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"

    def hexid(self, n):
        return "%0*x" % (n, self.rng.getrandbits(4 * n))

    def uuid(self):
        h = self.hexid(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def name(self):
        return f"{self.rng.choice(FIRST).title()} {self.rng.choice(LAST).title()}"

    def log_line(self):
        r = self.rng
        kind = r.random()
        svc = r.choice(["api", "worker", "billing", "auth", "scheduler", "sync"])
        if kind < 0.3:
            return (f"{self.ts()} {svc}[{r.randrange(100, 40000)}]: INFO request_id={self.uuid()} "
                    f"user={r.choice(FIRST)}.{r.choice(LAST)} took {r.randrange(1, 900)}ms\n")
        if kind < 0.5:
            return (f"{self.ts()} {svc}[{r.randrange(100, 40000)}]: DEBUG cache "
                    f"{r.choice(['hit', 'miss'])} key=sha256:{self.hexid(64)}\n")
        if kind < 0.65:
            return (f"{self.ts()} {svc}[{r.randrange(100, 40000)}]: WARN order "
                    f"{near_miss_number(r)} retry {r.randrange(1, 5)}/5 "
                    f"epoch_ms={r.randrange(1600000000000, 1800000000000)}\n")
        if kind < 0.8:
            blob = "".join(r.choice(B64) for _ in range(r.randrange(24, 90)))
            return (f"{self.ts()} {svc}[{r.randrange(100, 40000)}]: INFO session "
                    f"{self.hexid(16)} state={blob}==\n")
        return (f"{self.ts()} {svc}[{r.randrange(100, 40000)}]: ERROR {self.sentence()} "
                f"(errno={r.randrange(1, 130)}, host={self.ip()})\n")

    def access_line(self):
        r = self.rng
        return (f'{self.ip()} - - [{r.randrange(1, 29):02d}/Mar/2024:{r.randrange(24):02d}:'
                f'{r.randrange(60):02d}:{r.randrange(60):02d} +0000] "'
                f'{r.choice(["GET", "GET", "GET", "POST", "PUT"])} {r.choice(PATHS)}'
                f'?id={r.randrange(10**9)} HTTP/1.1" {r.choice([200, 200, 200, 304, 404, 500])} '
                f'{r.randrange(100, 90000)} "-" "{r.choice(AGENTS)}"\n')

    def csv_row(self):
        r = self.rng
        return (f"{r.randrange(10**7, 10**8)},{self.ts()},{self.name()},{r.choice(CITIES)},"
                f"{r.choice(PRODUCTS)},{r.randrange(1, 20)},{r.randrange(100, 99999) / 100:.2f},"
                f"+1-{r.randrange(200, 999)}-{r.randrange(200, 999)}-{r.randrange(10000):04d},"
                f"{near_miss_number(r, r.choice([12, 16, 18]))},{self.hexid(12)}\n")

    def json_record(self):
        r = self.rng
        rec = {"id": self.uuid(), "created": self.ts(), "name": self.name(),
               "city": r.choice(CITIES), "score": round(r.random() * 100, 3),
               "tags": [r.choice(WORDS) for _ in range(r.randrange(0, 4))],
               "ref": near_miss_number(r), "etag": self.hexid(40),
               "note": self.sentence()}
        return json.dumps(rec) + "\n"

    def conf_line(self):
        r = self.rng
        key = r.choice(["listen", "workers", "timeout", "log_level", "cache_dir", "max_conn",
                        "region", "endpoint", "retries", "pool_size"])
        val = r.choice([str(r.randrange(1, 65536)), r.choice(WORDS), f"/var/lib/{r.choice(WORDS)}",
                        f"https://{r.choice(WORDS)}.internal:{r.randrange(1024, 65535)}/"])
        return f"{key} = {val}\n"

    def lines(self, pool, nbytes):
        """Lines from the pool adding up to about nbytes."""
        src = self.pools[pool]
        avg = sum(len(x) for x in src[:200]) / 200
        return self.rng.choices(src, k=max(1, int(nbytes / avg)))


# ---------------------------------------------------------------- planting


def plant_line(rng, kind, secret, style):
    """A line (or block) that carries one secret, in the style of the file it goes in."""
    ts = f"2024-0{rng.randrange(1, 10)}-1{rng.randrange(10)}T0{rng.randrange(10)}:1{rng.randrange(10)}:00Z"
    if kind == "card":
        return {
            "log": f"{ts} billing[{rng.randrange(100, 9999)}]: WARN charge declined card={secret} "
                   f"amount={rng.randrange(100, 99999) / 100:.2f} EUR\n",
            "csv": f"{rng.randrange(10**7, 10**8)},{ts},{rng.choice(FIRST).title()} "
                   f"{rng.choice(LAST).title()},{secret},{rng.randrange(1, 13):02d}/2{rng.randrange(5, 9)}\n",
            "json": json.dumps({"order": rng.randrange(10**6), "pan": secret, "status": "declined"}) + "\n",
            "text": f"Hi, please charge the card {secret} for the renewal, thanks.\n",
        }[style]
    if kind == "iban":
        return {
            "log": f"{ts} payouts[{rng.randrange(100, 9999)}]: INFO transfer queued iban={secret} "
                   f"ref={rng.randrange(10**6)}\n",
            "csv": f"{rng.randrange(10**7, 10**8)},{rng.choice(FIRST).title()} "
                   f"{rng.choice(LAST).title()},{secret},{rng.choice(CITIES)}\n",
            "json": json.dumps({"beneficiary": rng.choice(LAST).title(), "iban": secret}) + "\n",
            "text": f"Please transfer the deposit to IBAN {secret} before Friday.\n",
        }[style]
    if kind == "ssn":
        return {
            "log": f"{ts} hr-sync[{rng.randrange(100, 9999)}]: INFO updated employee "
                   f"{rng.randrange(10**5)} ssn={secret}\n",
            "csv": f"{rng.randrange(10**5)},{rng.choice(FIRST).title()},{rng.choice(LAST).title()},"
                   f"{secret},19{rng.randrange(50, 99)}-0{rng.randrange(1, 10)}-1{rng.randrange(10)}\n",
            "json": json.dumps({"employee": rng.randrange(10**5), "ssn": secret}) + "\n",
            "text": f"Applicant SSN: {secret} (verified by phone)\n",
        }[style]
    if kind == "aws":
        key_id, key = secret
        return {
            "log": f"{ts} deploy[{rng.randrange(100, 9999)}]: DEBUG env AWS_ACCESS_KEY_ID={key_id} "
                   f"AWS_SECRET_ACCESS_KEY={key}\n",
            "csv": f"ci-{rng.choice(WORDS)},{key_id},{key}\n",
            "json": json.dumps({"AccessKeyId": key_id, "SecretAccessKey": key,
                                "UserName": rng.choice(FIRST)}) + "\n",
            "text": f"[profile {rng.choice(WORDS)}]\naws_access_key_id = {key_id}\n"
                    f"aws_secret_access_key = {key}\n",
        }[style]
    if kind == "github":
        return {
            "log": f"{ts} ci[{rng.randrange(100, 9999)}]: DEBUG GITHUB_TOKEN={secret}\n",
            "csv": f"{rng.choice(FIRST)},{rng.choice(WORDS)}-bot,{secret}\n",
            "json": json.dumps({"token": secret, "scopes": ["repo"]}) + "\n",
            "text": f"https://{rng.choice(FIRST)}:{secret}@github.com\n",
        }[style]
    if kind == "pem":
        if style == "json":
            return json.dumps({"type": "service_account", "private_key_id": "%040x" % rng.getrandbits(160),
                               "private_key": secret}) + "\n"
        return secret
    raise ValueError(kind)


def needles(kind, secret):
    """(what a detector reports, a string that finds it in the file) for one secret."""
    if kind == "aws":
        return [("aws_key_id", secret[0]), ("aws_secret", secret[1])]
    if kind == "pem":
        # The first body line is unique (and unchanged by JSON escaping); the finding is
        # reported at the BEGIN line before it.
        return [("pem", secret.split("\n")[1])]
    return [(kind, secret)]


class Tree:
    """Writes the files and records where each secret went (file, line; never the value)."""

    def __init__(self, root):
        self.root = root
        self.files = 0
        self.bytes = 0
        self.secrets = []

    def write(self, rel, data):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        self.files += 1
        self.bytes += len(data)

    def record(self, rel, text, items, archived, member=None):
        """Note the line of each (kind, secret) in text, the content of rel (or of its
        archive member)."""
        for kind, secret in items:
            for what, needle in needles(kind, secret):
                at = text.index(needle)
                if kind == "pem":
                    at = text.rindex("-----BEGIN", 0, at)
                rec = {"path": rel, "kind": what, "line": text.count("\n", 0, at) + 1,
                       "archived": archived}
                if member:
                    rec["member"] = member
                self.secrets.append(rec)

    def counts(self):
        out = {}
        for r in self.secrets:
            c = out.setdefault(r["kind"], {"plain": 0, "archived": 0})
            c["archived" if r["archived"] else "plain"] += 1
        return out


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as f:
        f.write(data)
    return buf.getvalue()


def build(root, size_mb, per_kind, seed):
    rng = random.Random(seed)
    filler = Filler(random.Random(seed + 1))
    tree = Tree(root)
    target = size_mb * 1000 * 1000

    # Secrets first, so that their values do not depend on the filler.
    secrets = []
    for _ in range(per_kind):
        secrets.append(("card", make_card(rng)))
        secrets.append(("iban", make_iban(rng)))
        secrets.append(("ssn", make_ssn(rng)))
        secrets.append(("aws", make_aws(rng)))
        secrets.append(("github", make_github(rng)))
    pems = [make_pem(rng) for _ in range(per_kind)]
    rng.shuffle(secrets)

    # Private keys: a third alone in key files, a third in service-account JSON, a third
    # pasted into notes.
    users = [f"{rng.choice(FIRST)}{i}" for i in range(40)]
    lone = pems[: per_kind // 3]
    in_json = pems[per_kind // 3: 2 * per_kind // 3]
    in_text = pems[2 * per_kind // 3:]
    for i, pem in enumerate(lone):
        user = users[i % len(users)]
        name = rng.choice(["id_rsa", "server.key", "tls.key", "deploy.pem", "client-key.pem"])
        rel = (f"home/{user}/.ssh/{name}.{i}" if i % 2 == 0 else f"etc/ssl/private/{i:03d}-{name}")
        tree.write(rel, pem.encode())
        tree.record(rel, pem, [("pem", pem)], False)
    for i, pem in enumerate(in_json):
        user = users[i % len(users)]
        rel = f"home/{user}/.config/gcloud/sa-{i:03d}.json"
        text = plant_line(rng, "pem", pem, "json")
        tree.write(rel, text.encode())
        tree.record(rel, text, [("pem", pem)], False)
    text_secrets = [("pem", p) for p in in_text]

    # The rest of the tree: (weight, style, directory, extension, pool, median size).
    kinds = [
        (30, "log", "var/log/app", ".log", "log", 200_000),
        (12, "log", "var/log/nginx", ".log", "access", 300_000),
        (22, "csv", "srv/exports", ".csv", "csv", 100_000),
        (18, "json", "srv/data", ".json", "json", 40_000),
        (60, "text", "home/{user}/Documents", ".md", "text", 8_000),
        (40, "conf", "etc/app", ".conf", "conf", 1_500),
        (4, "bin", "var/lib/blobs", ".bin", None, 100_000),
    ]
    weights = [k[0] for k in kinds]
    carriers = sum(k[0] for k in kinds if k[1] not in ("conf", "bin")) / sum(weights)
    pending = text_secrets + secrets
    rng.shuffle(pending)
    seq = 0
    while tree.bytes < target:
        _, style, d, ext, pool, median = rng.choices(kinds, weights)[0]
        size = int(min(median * math.exp(rng.gauss(0, 1.0)), 12 * median))
        user = users[seq % len(users)]
        rel = f"{d.format(user=user)}/{style}-{seq:05d}{ext}"
        seq += 1
        if style == "bin":
            tree.write(rel, rng.randbytes(size))
            continue
        if style == "conf":
            tree.write(rel, "".join(filler.lines(pool, size)).encode())
            continue
        lines = filler.lines(pool, size)
        planted = []
        # Spread the secrets over the tree, a few per file as leaks come: the chance is
        # what places all of them by the end (about 4 per carrying file).
        files_left = max(1.0, (target - tree.bytes) / 115_000 * carriers)
        if pending and rng.random() < min(1.0, len(pending) / (4 * files_left)):
            for _ in range(min(len(pending), rng.randrange(1, 8))):
                kind, secret = pending.pop()
                if kind == "pem" and style != "text":
                    # Keys are pasted into notes, not into logs and tables.
                    pending.insert(rng.randrange(len(pending) + 1), (kind, secret))
                    continue
                planted.append((kind, secret))
                lines.insert(rng.randrange(len(lines) + 1), plant_line(rng, kind, secret, style))
        text = "".join(lines)
        if style == "csv":
            text = "id,created,name,city,product,qty,price,phone,ref,hash\n" + text
        if style == "log" and rng.random() < 0.25:
            # Rotated logs are compressed: the secrets in them are only found with archives.
            rel = f"{rel}.{rng.randrange(1, 9)}.gz"
            tree.write(rel, gz(text.encode()))
            tree.record(rel, text, planted, True)
        else:
            tree.write(rel, text.encode())
            tree.record(rel, text, planted, False)

    # Whatever is left goes into a few exports: zip files and one tar.gz backup.
    leftovers = pending
    chunks = [leftovers[i::4] for i in range(4)]
    for i, chunk in enumerate(chunks[:3]):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            body = "".join(filler.lines("csv", 200_000))
            body += "".join(plant_line(rng, k, s, "text" if k == "pem" else "csv") for k, s in chunk)
            info = zipfile.ZipInfo(f"export-{i}/customers.csv", date_time=(2024, 3, 1, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, body)
        rel = f"srv/exports/archive/export-{i}.zip"
        tree.write(rel, buf.getvalue())
        tree.record(rel, body, chunk, True, info.filename)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        body = "".join(plant_line(rng, k, s, "text") for k, s in chunks[3])
        body += "".join(filler.lines("conf", 20_000))
        info = tarfile.TarInfo("home/backup/notes.txt")
        info.size, info.mtime, info.mode = len(body), 1709294400, 0o600
        t.addfile(info, io.BytesIO(body.encode()))
    # gzip by hand: tarfile's own gzip stamps the current time, and the tree must not vary.
    rel = "var/backups/home-2024-03-01.tar.gz"
    tree.write(rel, gz(buf.getvalue()))
    tree.record(rel, body, chunks[3], True, info.name)

    # Hidden files are where credentials live: rg needs --hidden to see them.
    for i in range(10):
        aws, token = make_aws(rng), make_github(rng)
        rel = f"home/{users[i]}/.aws/credentials"
        text = (f"[default]\naws_access_key_id = {aws[0]}\naws_secret_access_key = {aws[1]}\n"
                f"region = eu-west-1\n")
        tree.write(rel, text.encode())
        tree.record(rel, text, [("aws", aws)], False)
        rel = f"home/{users[i]}/.git-credentials"
        text = f"https://{users[i]}:{token}@github.com\n"
        tree.write(rel, text.encode())
        tree.record(rel, text, [("github", token)], False)
    # A .gitignore and a .ignore that hide the logs: rg needs --no-ignore to read them.
    tree.write("var/log/.ignore", b"*.log\n*.gz\n")
    tree.write(".gitignore", b"var/\n")
    return tree


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--size-mb", type=int, default=500)
    ap.add_argument("--per-kind", type=int, default=300)
    ap.add_argument("--seed", type=int, default=20240301)
    args = ap.parse_args()

    params = {"generator": GENERATOR_VERSION, "size_mb": args.size_mb,
              "per_kind": args.per_kind, "seed": args.seed,
              "script_sha256": hashlib.sha256(open(__file__, "rb").read()).hexdigest()}
    mpath = os.path.join(args.dir, MANIFEST)
    try:
        with open(mpath) as f:
            if json.load(f).get("params") == params:
                print(f"make_planted: {args.dir} is up to date", file=sys.stderr)
                return 0
    except (OSError, ValueError):
        pass
    if os.path.exists(args.dir):
        if os.listdir(args.dir) and not os.path.exists(mpath):
            sys.exit(f"make_planted: {args.dir} exists and is not a planted corpus; not touching it")
        shutil.rmtree(args.dir)
    os.makedirs(args.dir)
    tree = build(args.dir, args.size_mb, args.per_kind, args.seed)
    # The category vigil reports each planted secret under.
    category = {"card": "payment_card", "iban": "iban", "ssn": "ssn", "pem": "private_key",
                "aws_key_id": "credential", "aws_secret": "credential", "github": "credential"}
    for r in tree.secrets:
        r["category"] = category[r["kind"]]
    manifest = {"params": params, "files": tree.files + 1, "bytes": tree.bytes,
                "planted": tree.counts(), "secrets": tree.secrets}
    with open(mpath, "w") as f:
        json.dump(manifest, f, indent=0, sort_keys=True)
        f.write("\n")
    print(f"make_planted: {tree.files + 1} files, {tree.bytes / 1e6:.0f} MB in {args.dir}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
