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
ALL, TOPIC, TAG, GROUPED, MEMBERS, HANDOFF = 0, 1, 2, 3, 4, 5


def envelope(origin, inc, seq, kind, target, t, uri, content, groups=b""):
    return (b"FWB1" + bytes([len(origin)]) + origin + struct.pack("!QQ", inc, seq)
            + bytes([kind]) + struct.pack("!I", len(target)) + target + groups
            + frame(t, uri, content, wide=True))


def assigned(pairs):
    """Kind 3's assignments: count u16, then (len u8, group, owner u64)."""
    out = struct.pack("!H", len(pairs))
    for group, owner in pairs:
        out += bytes([len(group)]) + group + struct.pack("!Q", owner)
    return out


def table(entries):
    """A queue-group table: count u32, then (topic len u16, topic, group
    len u8, group, members u32)."""
    out = struct.pack("!I", len(entries))
    for topic, group, n in entries:
        out += struct.pack("!H", len(topic)) + topic + bytes([len(group)]) + group
        out += struct.pack("!I", n)
    return out


def grouped(seq, pairs, origin=b"other", inc=7):
    return rec(envelope(origin, inc, seq, GROUPED, b"t", NOTIFY, b"t", b"g%d" % seq,
                        assigned(pairs)))


def handoff(seq, pairs, origin=b"other", inc=7):
    return rec(envelope(origin, inc, seq, HANDOFF, b"t", NOTIFY, b"t", b"h%d" % seq,
                        assigned(pairs)))


def members(seq, entries, origin=b"other", inc=7):
    return rec(envelope(origin, inc, seq, MEMBERS, table(entries), NOTIFY, b"", b""))


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
    "grouped": members(1, [(b"t", b"w", 2)]) + grouped(2, [(b"w", 7), (b"v", 1)])
    + grouped(3, []) + members(4, []),
    "grouped_bad": grouped(1, [(b"a b", 7)]) + grouped(2, [(b"w", 7)] * 3)[:-5],
    "handoff": members(1, [(b"t", b"w", 1)]) + handoff(2, [(b"w", 7)]) + handoff(3, []),
    "members_bad": members(1, [(b"t", b"w", 0)]) + members(2, [(b"t", b"", 1)])
    + rec(envelope(b"o", 1, 3, MEMBERS, struct.pack("!I", 2**32 - 1), NOTIFY, b"", b"")),
}
out = os.path.join("fuzz", "seeds", "backplane_envelope")
os.makedirs(out, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {out}")
