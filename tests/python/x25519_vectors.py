"""Golden vectors for netaio 0.0.9's X25519CipherPlugin
(tests/data/x25519_vectors.json, checked by tests/x25519_vectors.rs).

Usage: x25519_vectors.py > tests/data/x25519_vectors.json

Deterministic (a rerun writes the same bytes): fixed seeds, and netaio's
two random draws are made reproducible while netaio's own `encrypt` runs.
PyNaCl's 24-byte box nonce (libsodium's randombytes, not seedable) is
replaced by a fixed one; the encrypt_uri split point comes from
`random.randint`, which is either pinned (`fixed_frame_hex`, a value
framewire's pinned PluginEnv reproduces) or left to netaio with the
`random` module seeded (`netaio_frame_hex`, checked by decryption only).
Each fixed frame is also checked against PyNaCl's
`Box(...).encrypt(plaintext, nonce)` split by hand, and every frame is
decrypted back by netaio.
"""
import hashlib
import importlib.metadata as md
import json
import random
import sys

import nacl.public
import packify
import netaio.asymmetric as asym
from nacl.public import Box, PublicKey
from netaio import AuthFields, Body, DefaultPeerPlugin, Message, MessageType, Peer
from netaio.asymmetric import X25519CipherPlugin

KEYS = {
    "alice": bytes(range(32)),
    "bob": bytes(range(0x80, 0xA0)),
}

# id, sender, receiver, encrypt_uri, type, uri, content, auth fields, nonce, split
CASES = [
    ("content_only", "alice", "bob", False, MessageType.REQUEST_URI, b"echo", b"hello",
     {}, bytes(range(0xA0, 0xB8)), None),
    ("content_only_empty", "bob", "alice", False, MessageType.OK, b"", b"",
     {}, bytes([0x11] * 24), None),
    ("content_only_auth_fields", "alice", "bob", False, MessageType.PUBLISH_URI, b"topic/a",
     b"payload with auth fields", {"rid": b"\x01\x02\x03\x04", "sid": b"session"},
     bytes(range(24)), None),
    ("encrypt_uri", "alice", "bob", True, MessageType.REQUEST_URI, b"echo", b"hello world",
     {}, bytes(range(0xC0, 0xD8)), 7),
    ("encrypt_uri_split_1", "bob", "alice", True, MessageType.RESPOND_URI, b"a/b", b"xyz",
     {}, bytes([0x5A] * 24), 1),
    ("encrypt_uri_split_last", "alice", "bob", True, MessageType.REQUEST_URI, b"u", b"c",
     {}, bytes(range(1, 25)), 42),  # 24 + 16 + 2 + 1 + 1 = 44 bytes: split at len-2
    ("encrypt_uri_empty", "bob", "alice", True, MessageType.OK, b"", b"",
     {}, bytes([0xFF] * 24), 20),
    ("encrypt_uri_long", "alice", "bob", True, MessageType.PUBLISH_URI, b"long/uri" * 8,
     bytes(i % 251 for i in range(1000)), {}, bytes(range(0x30, 0x48)), 500),
]


def plugin(name, encrypt_uri):
    return X25519CipherPlugin({"seed": KEYS[name], "encrypt_uri": encrypt_uri})


def peer_of(name):
    """The peer as the other end knows it: data advertising its pubkey."""
    key = bytes(plugin(name, False).pubk)
    return Peer(addrs=set(), id=name.encode(), data=packify.pack({"pubkey": key}))


def message(mtype, uri, content, fields):
    return Message.prepare(Body.prepare(content, uri), mtype, AuthFields(fields=dict(fields)))


def pinned_encrypt(p, msg, peer, nonce, split):
    """netaio's encrypt with its box nonce pinned, and randint pinned to
    `split` (or, if None, netaio's own randint)."""
    saved = (nacl.public.random, asym.randint)
    seen = {}

    def fixed_random(n):
        assert n == 24, n
        return nonce

    def fixed_randint(low, high):
        seen["range"] = (low, high)
        assert low <= split <= high, (low, split, high)
        return split

    nacl.public.random = fixed_random
    if split is not None:
        asym.randint = fixed_randint
    try:
        out = p.encrypt(msg, peer=peer, peer_plugin=DefaultPeerPlugin())
    finally:
        nacl.public.random, asym.randint = saved
    return out, seen.get("range")


def main():
    pp = DefaultPeerPlugin()
    keys = []
    for name, seed in KEYS.items():
        p = plugin(name, False)
        keys.append({
            "name": name,
            "seed_hex": seed.hex(),
            "x25519_private_hex": bytes(p.key).hex(),
            "pubkey_hex": bytes(p.pubk).hex(),
            "vkey_hex": bytes(p.vkey).hex(),
            "peer_data_hex": peer_of(name).data.hex(),
        })

    cases = []
    for cid, snd, rcv, enc_uri, mtype, uri, content, fields, nonce, split in CASES:
        sender, receiver = plugin(snd, enc_uri), plugin(rcv, enc_uri)
        plain = message(mtype, uri, content, fields)
        plaintext = (len(uri).to_bytes(2, "big") + uri if enc_uri else b"") + content

        # netaio's own split point (random seeded per case), another nonce:
        # framewire checks only that it decrypts.
        random.seed(cid)
        random_nonce = hashlib.sha256(b"nonce:" + cid.encode()).digest()[:24]
        random_frame = pinned_encrypt(sender, message(mtype, uri, content, fields),
                                      peer_of(rcv), random_nonce, None)[0].encode()

        fixed, rng = pinned_encrypt(sender, message(mtype, uri, content, fields),
                                    peer_of(rcv), nonce, split)
        box = Box(sender.key, PublicKey(bytes(receiver.pubk))).encrypt(plaintext, nonce)
        assert bytes(box) == nonce + box.ciphertext and len(box) == len(plaintext) + 40
        if enc_uri:
            assert rng == (1, len(box) - 1), rng
            assert fixed.body.uri == bytes(box)[:split]
            assert fixed.body.content == bytes(box)[split:]
        else:
            assert rng is None
            assert fixed.body.uri == uri and fixed.body.content == bytes(box)
        assert fixed.auth_data.fields == fields

        for frame in (random_frame, fixed.encode()):
            back = receiver.decrypt(Message.decode(frame), peer=peer_of(snd), peer_plugin=pp)
            assert (back.body.uri, back.body.content) == (uri, content), cid
            assert back.auth_data.fields == fields, cid

        cases.append({
            "id": cid,
            "sender": snd,
            "receiver": rcv,
            "encrypt_uri": enc_uri,
            "message_type": int(mtype),
            "uri_hex": uri.hex(),
            "content_hex": content.hex(),
            "auth_fields": {k: v.hex() for k, v in fields.items()},
            "plaintext_hex": plaintext.hex(),
            "netaio_frame_hex": random_frame.hex(),
            "nonce_hex": nonce.hex(),
            "split": split,
            "box_hex": bytes(box).hex(),
            "fixed_frame_hex": fixed.encode().hex(),
        })

    doc = {
        "generator": "tests/python/x25519_vectors.py",
        "netaio_version": md.version("netaio"),
        "pynacl_version": md.version("pynacl"),
        "packify_version": md.version("packify"),
        "notes": [
            "All *_hex strings are lowercase hex of the exact bytes.",
            "keys: seed (netaio config['seed']) -> SigningKey(seed).to_curve25519_private_key(); "
            "pubkey is what peers advertise as peer data {'pubkey': bytes} (peer_data_hex, packify).",
            "cases: sender encrypts for receiver. netaio_frame_hex: netaio's encrypt with its own "
            "randint (seeded with the case id) and another fixed nonce (check decryption only). fixed_frame_hex: netaio's encrypt with "
            "the box nonce pinned to nonce_hex and randint pinned to split (encrypt_uri only; "
            "netaio draws randint(1, len(box) - 1)). box_hex: PyNaCl Box(sender, receiver).encrypt("
            "plaintext, nonce) = nonce || MAC || ciphertext.",
            "plaintext: content, or with encrypt_uri u16-BE uri length || uri || content.",
        ],
        "keys": keys,
        "cases": cases,
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
