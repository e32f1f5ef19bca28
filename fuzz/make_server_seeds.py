"""Writes fuzz/seeds/server_stream/: a control byte (bit 0 wide, bit 1 HMAC,
bits 2-7 chunk size - 1) then what a client sends. Run from the repo root:
python3 fuzz/make_server_seeds.py"""
import os
import struct
import zlib

EMPTY_AUTH = b"\x4d\x40\x00"


def frame(t, uri, content=b"", auth=EMPTY_AUTH, wide=False, crc=None):
    body = struct.pack("!H", len(uri)) + uri + content
    c = zlib.crc32(body) if crc is None else crc
    if wide:
        return bytes([29, t]) + struct.pack("!III", len(auth), len(body), c) + auth + body
    return struct.pack("!BHHI", t, len(auth), len(body), c) + auth + body


def auth(**fields):
    """packify of a dict of short str keys and bytes values (WIRE.md 4)."""
    pairs = []
    for k, v in fields.items():
        pk = bytes([0x43, len(k)]) + k.encode()
        pv = bytes([0x41, len(v)]) + v
        pairs.append(bytes([0x4C, 0x40, 2, len(pk), len(pv)]) + pk + pv)
    pairs.sort()
    return bytes([0x4D, 0x40, len(pairs)]) + bytes(len(p) for p in pairs) + b"".join(pairs)


def ctl(wide=False, hmac=False, chunk=64):
    return bytes([(1 if wide else 0) | (2 if hmac else 0) | ((chunk - 1) << 2)])


def main():
    out = os.path.join("fuzz", "seeds", "server_stream")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {out}")


SEEDS = {
    "echo": ctl() + frame(0, b"echo", b"hello"),
    "echo_dribble": ctl(chunk=1) + frame(0, b"echo", b"hi") * 3,
    "pubsub": ctl() + frame(5, b"t") + frame(7, b"t", b"news") + frame(6, b"t"),
    "unrouted": ctl() + frame(2, b"k", b"v") + frame(30, b""),
    "bad_crc": ctl() + frame(0, b"echo", b"x", crc=1) * 6,
    "unknown_type": ctl() + frame(14, b"echo"),
    "truncated": ctl() + frame(0, b"echo", b"payload")[:-3],
    "garbage_auth": ctl() + frame(0, b"echo", auth=b"\xff\xff\xff"),
    "body_too_short": ctl() + b"\x00\x00\x03\x00\x00\x00\x00\x00\x00" + EMPTY_AUTH,
    "unsigned_to_hmac": ctl(hmac=True) + frame(0, b"echo", b"x") * 6,
    "wide_echo": ctl(wide=True) + frame(0, b"echo", b"wide", wide=True),
    "wide_claim_4gib": ctl(wide=True) + bytes([29, 0]) + struct.pack("!III", 0xFFFFFFFF, 2, 0),
    "profile_mismatch": ctl(wide=True) + frame(0, b"echo"),
    "subscribe_flood": ctl() + b"".join(frame(5, b"t%d" % i) for i in range(8)),
    # A topic history: three notifications, then a resubscription from a
    # position of another epoch (the server's is random): an unknown gap
    # notice and the history; then one whose position is malformed.
    "resume": ctl() + frame(5, b"t") + frame(7, b"t", b"a") * 3 + frame(6, b"t")
    + frame(5, b"t", auth=auth(**{"from": bytes(8) + struct.pack("!Q", 1)}))
    + frame(5, b"u", auth=auth(**{"from": b"short"})),
    # Queue groups: join "w", publish, switch to plain, a bad name, then
    # a group and a resume position together (the group wins).
    "group": ctl() + frame(5, b"t", auth=auth(grp=b"w")) + frame(7, b"t", b"a") * 2
    + frame(5, b"t") + frame(5, b"t", auth=auth(grp=b"a b"))
    + frame(5, b"u", auth=auth(grp=b"w", **{"from": bytes(16)})) + frame(7, b"u", b"b"),
}

if __name__ == "__main__":
    main()
