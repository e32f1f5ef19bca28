"""Writes fuzz/seeds/backplane_envelope/: records of (u16 length,
envelope) as a backplane delivers them. An envelope is
"FWB1" | origin len u8 | origin | incarnation u64 | seq u64 | target kind u8
| target len u32 | target | one `wide` frame. Run from the repo root:
python3 fuzz/make_backplane_seeds.py"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_server_seeds import frame

RESPOND, NOTIFY, OK, DISCONNECT = 1, 8, 10, 30
ALL, TOPIC, TAG = 0, 1, 2


def envelope(origin, inc, seq, kind, target, t, uri, content):
    return (b"FWB1" + bytes([len(origin)]) + origin + struct.pack("!QQ", inc, seq)
            + bytes([kind]) + struct.pack("!I", len(target)) + target
            + frame(t, uri, content, wide=True))


def rec(e):
    return struct.pack("!H", len(e)) + e


def note(seq, origin=b"other", inc=7, kind=TOPIC, target=b"t", t=NOTIFY):
    return rec(envelope(origin, inc, seq, kind, target, t, target or b"x", b"n%d" % seq))


SEEDS = {
    "in_order": note(1) + note(2) + note(3),
    "broadcast": note(1, kind=ALL, target=b""),
    "tag": note(1, kind=TAG, target=b"ops"),
    "own": note(1, origin=b"me"),
    "max_seq": note(1) + note(2**64 - 1) + note(2) + note(3),
    "restart": note(5, inc=7) + note(1, inc=8) + note(6, inc=7),
    "repeat": note(1) + note(1),
    "other_kinds": note(1, t=RESPOND) + note(2, t=OK) + note(3, t=DISCONNECT),
    "truncated": rec(envelope(b"o", 1, 1, TOPIC, b"t", NOTIFY, b"t", b"x")[:-3]),
    "bad_magic": rec(b"FWB2" + b"\x00" * 30),
    "unknown_target": rec(envelope(b"o", 1, 1, 9, b"t", NOTIFY, b"t", b"x")),
}
out = os.path.join("fuzz", "seeds", "backplane_envelope")
os.makedirs(out, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {out}")
