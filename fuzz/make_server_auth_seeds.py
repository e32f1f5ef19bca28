"""Writes fuzz/seeds/server_auth/: the target's `Input` as arbitrary 1.x
lays it out (five flag bytes, then messages, each a continue byte, its
type, uri, auth-field count and content, with every length taken from
the end of the data). Run from the repo root:
python3 fuzz/make_server_auth_seeds.py"""
import os

REQUEST, CREATE, SUBSCRIBE, PUBLISH, ADVERTISE, DISCONNECT = 0, 2, 5, 7, 9, 30


def encode(flags, messages):
    front, lengths = bytearray(flags), []
    for t, uri, content in messages:
        front += bytes([1, t]) + uri + b"\x00" + content
        lengths += [len(uri), len(content)]
    data = bytes(front) + bytes(reversed(lengths))
    assert len(data) <= 256, "one length byte each only below 257 bytes"
    return data


def flags(as_bob=0, wrong_key=0, login_first=1, good_token=1, unsigned_every=0):
    return [as_bob, wrong_key, login_first, good_token, unsigned_every]


ALICE_TRIES = [
    (REQUEST, b"whoami", b""),
    (REQUEST, b"echo", b"hi"),
    (CREATE, b"k/secret/x", b"v"),
    (REQUEST, b"admin", b""),
    (PUBLISH, b"pub/news", b"n"),
    (SUBSCRIBE, b"alerts", b""),
]
SEEDS = {
    "alice": encode(flags(), ALICE_TRIES),
    "bob": encode(flags(as_bob=1), [(PUBLISH, b"pub/news", b"x"), (REQUEST, b"admin", b"")]),
    "no_login": encode(flags(login_first=0), [(REQUEST, b"whoami", b""), (REQUEST, b"admin", b"")]),
    "bad_token": encode(flags(good_token=0), [(REQUEST, b"whoami", b"")]),
    "wrong_key": encode(flags(wrong_key=1), [(REQUEST, b"whoami", b"")] * 3),
    "unsigned": encode(flags(unsigned_every=2), ALICE_TRIES),
    "peers": encode(flags(), [(ADVERTISE, b"", b"junk"), (DISCONNECT, b"", b"")]),
}
out = os.path.join("fuzz", "seeds", "server_auth")
os.makedirs(out, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {out}")
