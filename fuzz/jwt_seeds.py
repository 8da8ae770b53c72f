#!/usr/bin/env python3
"""Writes the seeds of fuzz/corpus/jwt/ (see the top of fuzz_jwt.cpp for the input format).

Tokens are signed with the fuzz-only secret and the test keys of fuzz_jwt_keys.hpp (RS256 and
ES256 through the openssl command). Run from the repository root: python3 fuzz/jwt_seeds.py
"""
import base64, hashlib, hmac, json, os, re, subprocess, tempfile

OUT = "fuzz/corpus/jwt"
NOW = 1700000000
SECRET = b"fuzz-secret"
keys_h = open("fuzz/fuzz_jwt_keys.hpp").read()
PEM = dict(re.findall(r'k(\w+)Pem = R"\((.*?)\)";', keys_h, re.S))


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def der_to_raw(der):  # ECDSA-Sig-Value (SEQUENCE of two INTEGERs) to JOSE's R || S
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b"\0").rjust(32, b"\0")
        i += 2 + n
    return out


def sign(alg, signing_input, key=None):
    if alg == "HS256":
        return hmac.new(key or SECRET, signing_input, hashlib.sha256).digest()
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
        f.write(PEM["RsaPrivate" if alg == "RS256" else "EcPrivate"])
    try:
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", f.name], input=signing_input,
                             capture_output=True, check=True).stdout
    finally:
        os.unlink(f.name)
    return der_to_raw(sig) if alg == "ES256" else sig


def token(claims, alg="HS256", header=None, key=None, sign_alg=None):
    head = b64(json.dumps(header or {"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = (head + "." + body).encode()
    return head + "." + body + "." + b64(sign(sign_alg or alg, signing_input, key))


def seed(name, setting, rest):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes([setting]) + (rest.encode() if isinstance(rest, str) else rest))


CLAIMS = {"herald": {"publish": ["orders/*"], "subscribe": ["orders/42", "news"]}, "exp": NOW + 3600}
KEY = {"HS256": 0, "ES256": 1, "RS256": 2}
LEEWAY = 4
os.makedirs(OUT, exist_ok=True)

# Mode 0: a token.
for alg, k in KEY.items():
    seed(f"{alg.lower()}-valid", k, token(CLAIMS, alg))
seed("hs256-expired", 0, token({"exp": NOW - 60}))
seed("hs256-expired-within-leeway", LEEWAY, token({"exp": NOW - 10, "herald": {"publish": ["*"]}}))
seed("hs256-not-yet", 0, token({"nbf": NOW + 60}))
seed("hs256-exp-string", 0, token({"exp": "tomorrow"}))
seed("hs256-no-claims", 0, token({}))
seed("hs256-payload-array", 0, token([1, 2]))
seed("hs256-crit", 0, token(CLAIMS, header={"alg": "HS256", "crit": ["exp"]}))
seed("hs256-alg-none", 0, token(CLAIMS, header={"alg": "none"}).rsplit(".", 1)[0] + ".")
seed("hs256-alg-hs512", 0, token(CLAIMS, header={"alg": "HS512"}))
seed("hs256-wrong-secret", 0, token(CLAIMS, key=b"another secret"))
seed("hs256-padded", 0, token(CLAIMS) + "=")
seed("es256-confusion-hs256-with-public-key", 1,
     token(CLAIMS, header={"alg": "HS256"}, key=PEM["EcPublic"].encode()))
seed("rs256-confusion-hs256-with-public-key", 2,
     token(CLAIMS, header={"alg": "HS256"}, key=PEM["RsaPublic"].encode()))
seed("es256-short-signature", 1, token(CLAIMS, "ES256")[:-4])
seed("garbage-dots", 0, "not.a.token!")
seed("garbage-four-segments", 0, "a.b.c.d")
seed("garbage-empty-segments", 0, "..")

# Mode 1: header JSON \n payload JSON, signed by the harness.
for alg, k in KEY.items():
    seed(f"signed-json-{alg.lower()}", 8 | k, '{"alg":"%s","typ":"JWT"}\\n{"herald":{"publish":["*"]},"exp":%d}' % (alg, NOW))
seed("signed-json-duplicate-alg", 8, '{"alg":"none","alg":"HS256"}\\n{"nbf":1700000030.5}')
seed("signed-json-not-json", 8 | LEEWAY, '{"alg":"HS256"}\\n{"exp":1699999970')
seed("signed-json-confusion", 8 | 2, '{"alg":"HS256"}\\n{}')

# Mode 2: built claims. Bytes 1-5: header, exp/nbf/herald kinds, exp and nbf offsets, counts.
for alg, k in KEY.items():
    seed(f"built-{alg.lower()}", 16 | k, bytes([0x10, 0x09, 0, 0, 2 | 1 << 3]) + b"orders/*\\nnews\\norders/42\\norders/7\\nnews2\\norders")
seed("built-exp-edge-leeway", 16 | LEEWAY, bytes([0, 0x01, 256 - 30, 0, 1]) + b"*\\nanything")
seed("built-nbf-float", 16, bytes([0, 0x10, 0, 0, 1]) + b"a*\\na")
seed("built-herald-mixed", 16, bytes([0, 0xc0, 0, 0, 1 | 1 << 3 | 0x80]) + b"x\\ny\\nx")
seed("built-crit-none-twice", 16, bytes([0x28, 0, 0, 0, 0]))

# Mode 3: topic_allowed; byte 1 % 8 patterns, then topics.
seed("topics", 24, bytes([3]) + b"orders/*\\n*x\\nnews\\norders/1\\nnews\\nx\\n*x\\norders\\norders/")
seed("topics-star", 24, bytes([2]) + b"*\\n\\n\\nanything")
seed("topics-empty-pattern", 24, bytes([1]) + b"\\n\\na")
