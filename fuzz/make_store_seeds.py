#!/usr/bin/env python3
"""Seeds for the `store_ops` fuzz target (fuzz/checks/store.rs): two bytes
of limits (keys 1 + b % 8, bytes b % 80), then operations of
`op (0 create, 1 get, 2 update, 3 delete), key length, value length, key,
value`. Key bytes map to a..c (b'a' + b % 3)."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))

CREATE, GET, UPDATE, DELETE = 0, 1, 2, 3


def op(kind, key=b"", value=b""):
    # A key byte k stands for b'a' + k % 3: write keys as 0, 1, 2.
    return bytes([kind, len(key), len(value)]) + key + value


def seed(keys, nbytes, *ops):
    return bytes([keys - 1, nbytes]) + b"".join(ops)


SEEDS = {
    "crud": seed(8, 79,
                 op(GET, b"\x00"), op(UPDATE, b"\x00", b"v"), op(DELETE, b"\x00"),
                 op(CREATE, b"\x00", b"xyz"), op(CREATE, b"\x00", b"q"),
                 op(GET, b"\x00"), op(UPDATE, b"\x00", b"longer"), op(GET, b"\x00"),
                 op(DELETE, b"\x00"), op(DELETE, b"\x00"), op(GET, b"\x00")),
    "fill_bytes": seed(7, 10,
                       op(CREATE, b"\x00", b"123456789"), op(CREATE, b"\x01"),
                       op(UPDATE, b"\x00", b"1234567890"), op(UPDATE, b"\x00", b"1"),
                       op(CREATE, b"\x01", b"12345678"), op(CREATE, b"\x02")),
    "fill_keys": seed(1, 79,
                      op(CREATE, b"\x00"), op(CREATE, b"\x01"), op(DELETE, b"\x00"),
                      op(CREATE, b"\x01", b"v"), op(GET, b"\x01")),
    "empty_key": seed(2, 5, op(CREATE), op(GET), op(CREATE, b"", b"v"), op(UPDATE, b"", b"12345"),
                      op(UPDATE, b"", b"123456"), op(DELETE)),
    "no_room": seed(3, 0, op(CREATE), op(CREATE, b"\x00"), op(GET)),
    "limits_only": bytes([5, 60]),
    "truncated": seed(4, 40, op(CREATE, b"\x00", b"v"))[:-1] + bytes([0, 3, 23, 1]),
}


def main():
    d = os.path.join(HERE, "seeds", "store_ops")
    os.makedirs(d, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"store_ops: {len(SEEDS)} seeds")


if __name__ == "__main__":
    main()
