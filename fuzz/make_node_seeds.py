"""Writes fuzz/seeds/node_datagrams/: records of (source 0-3, u16 length,
datagram) sent to a UDP node. Run from the repo root:
python3 fuzz/make_node_seeds.py"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_server_seeds import frame

REQUEST, CREATE, SUBSCRIBE, PUBLISH, ADVERTISE, DISCONNECT = 0, 2, 5, 7, 9, 30


def rec(src, datagram):
    return bytes([src]) + struct.pack("!H", len(datagram)) + datagram


SEEDS = {
    "echo": rec(0, frame(REQUEST, b"echo", b"hi")),
    "store": rec(1, frame(CREATE, b"k", b"v" * 100)) + rec(2, frame(REQUEST, b"k")),
    "spoofed_subscribers": b"".join(rec(i, frame(SUBSCRIBE, b"t")) for i in range(4))
    + rec(0, frame(PUBLISH, b"pub/t", b"x" * 3000)),
    "broadcast": b"".join(rec(i, frame(SUBSCRIBE, b"b")) for i in range(3))
    + rec(3, frame(PUBLISH, b"broadcast", b"y" * 2000)),
    "announce": rec(0, frame(ADVERTISE, b"", b"\x00")) + rec(1, frame(DISCONNECT, b"")),
    "bad_crc": rec(2, frame(REQUEST, b"echo", b"x", crc=5)),
    "garbage": rec(3, bytes(range(200))),
}
out = os.path.join("fuzz", "seeds", "node_datagrams")
os.makedirs(out, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {out}")
