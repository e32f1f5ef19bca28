"""Writes fuzz/seeds/client_stream/: a control byte (bit 0 wide, bit 1 HMAC,
bits 2-7 chunk size - 1) then what a server sends to a client that
subscribes to `t`, requests `echo` and publishes to `pub/t`. Run from the
repo root: python3 fuzz/make_client_seeds.py"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_server_seeds import EMPTY_AUTH, ctl, frame

RESPOND, NOTIFY, OK, CONFIRM_SUBSCRIBE = 1, 8, 10, 11
ERROR, AUTH_ERROR, NOT_FOUND, DISCONNECT = 20, 23, 24, 30

seeds = {
    "answers": ctl() + frame(CONFIRM_SUBSCRIBE, b"t") + frame(RESPOND, b"echo", b"x")
    + frame(OK, b"pub/t", b"1") + frame(NOTIFY, b"t", b"news"),
    "answers_dribble": ctl(chunk=1) + frame(CONFIRM_SUBSCRIBE, b"t") + frame(RESPOND, b"echo", b"x"),
    "notes_first": ctl() + frame(NOTIFY, b"t", b"early") * 4 + frame(CONFIRM_SUBSCRIBE, b"t"),
    "wrong_uri": ctl() + frame(RESPOND, b"other", b"x") + frame(OK, b"elsewhere"),
    "errors": ctl() + frame(AUTH_ERROR, b"ERROR", b"HMAC auth failed") + frame(ERROR, b"ERROR", b"invalid message")
    + frame(NOT_FOUND, b"", b"not found"),
    "disconnect": ctl() + frame(DISCONNECT, b"", b"bye"),
    "bad_crc": ctl() + frame(RESPOND, b"echo", b"x", crc=7) * 3,
    "truncated": ctl() + frame(RESPOND, b"echo", b"payload")[:-2],
    "garbage_auth": ctl() + frame(RESPOND, b"echo", auth=b"\xff\xff\xff"),
    "unsigned_to_hmac": ctl(hmac=True) + frame(CONFIRM_SUBSCRIBE, b"t") + frame(RESPOND, b"echo", b"x"),
    "wide_answers": ctl(wide=True) + frame(RESPOND, b"echo", b"x", wide=True) + frame(NOTIFY, b"t", b"w", wide=True),
    "wide_claim_4gib": ctl(wide=True) + bytes([29, RESPOND]) + struct.pack("!III", 0xFFFFFFFF, 2, 0),
    "profile_mismatch": ctl(wide=True) + frame(RESPOND, b"echo"),
    "empty_auth_only": ctl() + EMPTY_AUTH,
}
out = os.path.join("fuzz", "seeds", "client_stream")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {out}")
