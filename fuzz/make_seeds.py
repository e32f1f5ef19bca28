#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/ from shared/netaio/vectors.json plus
hand-built hostile inputs. Re-run after changing it:

    python3 fuzz/make_seeds.py [path/to/vectors.json]

(default: tests/data/vectors.json, a copy of shared/netaio/vectors.json).
Only the standard library is used. The seed files are committed; this
script just documents where each one comes from.
"""

import json
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    HERE, "..", "tests", "data", "vectors.json")

WIDE_MARKER = 29


# --- packify (WIRE.md section 4), just what auth sections need -------------

def _cat(n):
    return 0x40 if n < 1 << 8 else 0x80 if n < 1 << 16 else 0xC0


def _len(cat, n):
    return struct.pack({0x40: "!B", 0x80: "!H", 0xC0: "!I"}[cat], n)


def p_bytes(b):
    c = _cat(len(b))
    return bytes([c | 1]) + _len(c, len(b)) + b


def p_str(s):
    b = s.encode()
    c = _cat(len(b))
    return bytes([c | 3]) + _len(c, len(b)) + b


def p_int(i):
    ty = 5 if i < 0 else 4
    m = abs(i)
    if m < 1 << 32:
        c = _cat(m)
        return bytes([c | ty]) + _len(c, m)
    n = (m.bit_length() + 7) // 8
    return bytes([ty, n]) + m.to_bytes(n, "big")


def p_container(ty, items, sort=False):
    items = sorted(items) if sort else list(items)
    n = len(items)
    ic = _cat(max((len(p) for p in items), default=0))
    nc = _cat(n)
    return (bytes([nc | ty, ic]) + _len(nc, n)
            + b"".join(_len(ic, len(p)) for p in items) + b"".join(items))


def p_value(v):
    return p_int(v) if isinstance(v, int) else p_bytes(v)


def pair(k, v):
    return p_container(12, [p_str(k), p_value(v)])


def p_dict(d):
    return p_container(13, [pair(k, v) for k, v in d.items()], sort=True)


# --- frames -----------------------------------------------------------------

def body(uri, content):
    return struct.pack("!H", len(uri)) + uri + content


def netaio(mtype, auth, bdy, crc=None):
    crc = zlib.crc32(bdy) if crc is None else crc
    return struct.pack("!BHHI", mtype, len(auth), len(bdy), crc) + auth + bdy


def wide(mtype, auth, bdy, crc=None, auth_len=None, body_len=None):
    crc = zlib.crc32(bdy) if crc is None else crc
    return (struct.pack("!BBIII", WIDE_MARKER, mtype,
                        len(auth) if auth_len is None else auth_len,
                        len(bdy) if body_len is None else body_len, crc)
            + auth + bdy)


EMPTY = p_dict({})
HMAC_FIELDS = {"nonce": bytes(range(16)), "ts": bytes.fromhex("6553f100"),
               "hmac": bytes(range(32))}


def main():
    cases = {c["id"]: c for c in json.load(open(VECTORS))["cases"]}

    def frame(cid):
        c = cases[cid]
        return bytes.fromhex(c.get("frame_hex") or c["sent_hex"])

    assert p_dict({"a": b"1"}) == bytes.fromhex(cases["auth_one_field"]["auth_hex"])
    assert p_dict({k: bytes.fromhex(v) for k, v in
                   cases["auth_several_fields"]["auth_fields"].items()}) == \
        bytes.fromhex(cases["auth_several_fields"]["auth_hex"])

    echo = body(b"echo", b"ping")
    unsorted = p_container(13, [pair("b", b"2"), pair("a", b"1")])
    wide_ok = wide(0, p_dict(HMAC_FIELDS), body(b"echo", b"hello wide"))
    claim_4g = wide(10, b"", b"", auth_len=0xFFFFFFFF, body_len=0xFFFFFFFF) + EMPTY
    seeds = {}

    seeds["decode_frame"] = {
        # valid netaio 0.0.9 frames (vectors.json frame_hex / sent_hex)
        "valid_empty_body": frame("empty_body"),
        "valid_uri_and_content": frame("uri_and_content"),
        "valid_binary_all_bytes": frame("binary_all_bytes"),
        "valid_utf8_uri": frame("utf8_uri"),
        "valid_auth_several_fields": frame("auth_several_fields"),
        "valid_auth_unicode_key": frame("auth_unicode_key"),
        "valid_hmac_signed": frame("hmac_valid"),
        "valid_cipher_iv": frame("cipher_valid"),
        "valid_two_frames": frame("invalid_two_frames_one_write"),
        "valid_custom_type_200": netaio(200, EMPTY, body(b"chat", b"hi")),
        "valid_int_auth_values": netaio(0, p_dict({"ts": 1_700_000_000, "neg": -70000,
                                                   "big": 1 << 100}), echo),
        "valid_unsorted_auth": netaio(0, unsorted, echo),
        "valid_noncanonical_widths": netaio(0, bytes.fromhex("4d8001000b4c40020303430161410131"), echo),
        "valid_wide": wide_ok,
        "valid_wide_two_frames": wide_ok + wide(10, EMPTY, body(b"", b"")),
        # hostile
        "bad_checksum_then_valid": frame("invalid_bad_checksum") + frame("uri_and_content"),
        "unknown_type_14": frame("invalid_unknown_type_14"),
        "unknown_type_255": frame("invalid_unknown_type_255"),
        "auth_length_zero": frame("invalid_auth_length_zero"),
        "auth_garbage": frame("invalid_auth_garbage"),
        "auth_not_a_dict": frame("invalid_auth_not_a_dict"),
        "auth_trailing_bytes": frame("invalid_auth_trailing_bytes"),
        "auth_duplicate_field": netaio(0, p_container(13, [pair("a", b"1"), pair("a", b"1")]), echo),
        "auth_33_fields": netaio(0, p_dict({"f%02d" % i: b"" for i in range(33)}), echo),
        "body_length_zero": frame("invalid_body_length_zero"),
        "body_length_one": frame("invalid_body_length_one"),
        "uri_length_overflow": frame("invalid_uri_length_overflow"),
        "truncated_body": frame("invalid_truncated_body_then_eof"),
        "truncated_header": frame("invalid_truncated_header_then_eof"),
        "netaio_max_claim": struct.pack("!BHHI", 0, 0xFFFF, 0xFFFF, 0) + EMPTY,
        "wide_4gib_claim": claim_4g,
        "wide_body_4gib_claim": wide(1, EMPTY, body(b"x", b""), body_len=0xFFFFFFF0),
        "wide_unknown_type_21": wide(21, EMPTY, echo),
        "wide_marker_on_netaio": bytes([WIDE_MARKER]) + frame("uri_and_content")[1:],
        "wide_bad_checksum_then_valid": wide(0, EMPTY, echo, crc=1) + wide_ok,
    }

    def stream(selector, sizes, data):
        return bytes([selector, len(sizes) - 1]) + bytes(sizes) + data

    three = frame("uri_and_content") + frame("hmac_valid") + frame("empty_body")
    seeds["codec_stream"] = {
        "netaio_bytewise_codec": stream(0x00, [1], three),
        "netaio_mixed_chunks_raw": stream(0x80, [3, 7, 0, 200], three),
        "netaio_bad_crc_midstream": stream(0x00, [5, 2],
                                           frame("uri_and_content") + frame("invalid_bad_checksum")
                                           + frame("empty_body")),
        "netaio_unknown_type_midstream": stream(0x00, [4], frame("empty_body")
                                                + frame("invalid_unknown_type_14")),
        "netaio_ends_mid_frame": stream(0x00, [6, 1], three + frame("uri_and_content")[:11]),
        "wide_frames_codec": stream(0x01, [9], wide_ok + wide(10, EMPTY, body(b"", b""))),
        "wide_unlimited_4gib_claim": stream(0x02, [16, 1], wide_ok + claim_4g + bytes(40)),
        "wide_default_limit_4gib_claim": stream(0x81, [2], wide_ok + claim_4g),
        "small_limit_exceeded": stream(0x03, [10], frame("empty_body") + frame("binary_all_bytes")),
        "profile_mismatch": stream(0x01, [3], frame("uri_and_content")),
    }

    auth = lambda cid: bytes.fromhex(cases[cid]["auth_hex"])  # noqa: E731
    seeds["auth_fields"] = {
        "empty": EMPTY,
        "one_field": auth("auth_one_field"),
        "several_fields": auth("auth_several_fields"),
        "sort_by_packed_bytes": auth("auth_sort_by_packed_bytes"),
        "unicode_key": auth("auth_unicode_key"),
        "value_1000": auth("auth_value_1000"),
        "hmac_fields": auth("hmac_default_fields"),
        "cipher_then_hmac": auth("cipher_then_hmac"),
        "int_values": p_dict({"ts": 1_700_000_000, "zero": 0, "neg": -1, "u16": 300,
                              "big": (1 << 127) - 1, "min": -(1 << 127)}),
        "int_cat0_small": p_container(13, [p_container(12, [p_str("n"), bytes([4, 1, 5])])]),
        "neg_zero": p_container(13, [p_container(12, [p_str("n"), bytes([0x45, 0])])]),
        "int_17_bytes": p_container(13, [p_container(12, [p_str("n"), bytes([4, 17]) + bytes(17)])]),
        "unsorted": unsorted,
        "noncanonical_widths": bytes.fromhex("4d8001000b4c40020303430161410131"),
        "garbage": bytes.fromhex("ffffff"),
        "not_a_dict": bytes.fromhex("410178"),
        "trailing_bytes": EMPTY + b"junk",
        "duplicate": p_container(13, [pair("a", b"1"), pair("a", b"1")]),
        "too_many_fields": p_dict({"f%02d" % i: b"" for i in range(33)}),
        "count_u32_max": bytes([0xCD, 0xC0]) + struct.pack("!I", 0xFFFFFFFF) + bytes(64),
        "item_len_u32_max": bytes([0x4D, 0xC0, 1]) + struct.pack("!I", 0xFFFFFFFF) + bytes(8),
        "value_nested_dict": p_container(13, [p_container(12, [p_str("d"), EMPTY])]),
        "tuple_of_three": p_container(13, [p_container(12, [p_str("a"), p_bytes(b""), p_bytes(b"")])]),
        "key_not_utf8": p_container(13, [p_container(12, [bytes([0x43, 1, 0xFF]), p_bytes(b"")])]),
        "key_is_bytes": p_container(13, [p_container(12, [p_bytes(b"k"), p_bytes(b"")])]),
        "truncated": auth("hmac_default_fields")[:40],
    }

    def rt(type_byte, uri=b"", content=b"", pad=0, fields=()):
        out = bytes([type_byte, pad]) + struct.pack("!H", len(uri)) + uri
        out += struct.pack("!H", len(content)) + content + bytes([len(fields)])
        for name, value in fields:
            nb = name.encode()
            out += bytes([len(nb)]) + nb
            if isinstance(value, int):
                out += b"\x01" + value.to_bytes(16, "big", signed=True)
            else:
                out += b"\x00" + struct.pack("!H", len(value)) + value
        return out

    seeds["roundtrip"] = {
        "echo": rt(0, b"echo", b"hello"),
        "empty_ok": rt(10),
        "hmac_fields": rt(0, b"echo", b"ping", fields=list(HMAC_FIELDS.items())),
        "fields_in_reverse_order": rt(1, b"k", b"v", fields=[("zeta", b"\x00"), ("b", b"\xff" * 3),
                                                             ("alpha", b"AAAA"), ("mid", b"")]),
        "int_fields": rt(200, b"chat", b"x", fields=[("ts", 1_700_000_000), ("neg", -70000),
                                                     ("max", (1 << 127) - 1), ("min", -(1 << 127))]),
        "repeated_name": rt(7, b"topic", b"a", fields=[("a", b"1"), ("b", b"2"), ("a", 3)]),
        "uri_300": rt(2, b"u" * 300, b"v"),
        "value_300": rt(3, b"k", b"", fields=[("a", b"x" * 300), ("b", b"22")]),
        "unassigned_type_14": rt(14, b"echo", b"x"),
        "unassigned_type_29": rt(29),
        "custom_type_255": rt(255, b"\xff\xfe", bytes(range(256))),
        "pad_fits_netaio": rt(8, b"n", b"", pad=247),
        "pad_too_big_for_netaio": rt(1, b"", b"", pad=255),
    }

    for target, files in seeds.items():
        d = os.path.join(HERE, "seeds", target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{target}: {len(files)} seeds")


if __name__ == "__main__":
    main()
