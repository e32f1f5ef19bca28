"""netaio 0.0.9 peer for tests/interop_netaio_auth.rs.

Uses netaio's real HMACAuthPlugin and Sha256StreamCipherPlugin, with their
own random nonces/IVs and the real clock, through netaio's own send and
receive order (per layer: cipher.encrypt then auth.make, inner layer first;
receiving: auth.check then cipher.decrypt, outer layer first).

  python netaio_auth_peer.py probe
      prints {"netaio": "<version>"}; exit 0 only for netaio 0.0.9.
  python netaio_auth_peer.py sign
      prints one JSON object per line: name, layers (outer first),
      message_type, plain_uri_hex, plain_content_hex, frame_hex.
  python netaio_auth_peer.py verify < lines
      reads the same kind of lines (from the Rust side) and prints one
      result per line: name, ok, checks (per layer), uri_hex, content_hex,
      error.
"""

import importlib.metadata
import json
import sys

from netaio import (
    AuthFields,
    Body,
    HMACAuthPlugin,
    Message,
    MessageType,
    Sha256StreamCipherPlugin,
)


def plugins(layer):
    hmac = HMACAuthPlugin(layer["hmac"]) if layer.get("hmac") else None
    cipher = Sha256StreamCipherPlugin(layer["cipher"]) if layer.get("cipher") else None
    return hmac, cipher


def seal(message, layers):
    for layer in reversed(layers):  # inner layer first
        hmac, cipher = plugins(layer)
        if cipher is not None:
            message = cipher.encrypt(message)
        if hmac is not None:
            hmac.make(message.auth_data, message.body)
    return message


def open_(message, layers):
    checks = []
    for layer in layers:  # outer layer first
        hmac, cipher = plugins(layer)
        if hmac is not None:
            ok = bool(hmac.check(message.auth_data, message.body))
            checks.append(ok)
            if not ok:
                return None, checks
        if cipher is not None:
            message = cipher.decrypt(message)
    return message, checks


HMAC = {"secret": "test-secret"}
CIPHER = {"key": "test-key"}

CASES = [
    ("hmac_default", [{"hmac": HMAC}], "REQUEST_URI", b"echo", b"hello"),
    ("hmac_empty_body", [{"hmac": HMAC}], "OK", b"", b""),
    ("hmac_binary", [{"hmac": HMAC}], "RESPOND_URI", bytes(range(256)), bytes(range(255, -1, -1)) * 4),
    (
        "hmac_custom_fields",
        [{"hmac": {"secret": {"hex": b"raw\x00secret\xff".hex()}, "hmac_field": "sig", "nonce_field": "n", "ts_field": "t"}}],
        "UPDATE_URI",
        b"k",
        b"v",
    ),
    (
        "two_layers",
        [{"hmac": {"secret": "test"}}, {"hmac": {"secret": "tset", "hmac_field": "camh"}}],
        "CREATE_URI",
        b"test1",
        b"content",
    ),
    ("cipher_encrypt_uri", [{"cipher": CIPHER}], "REQUEST_URI", b"echo", b"hello"),
    (
        "cipher_content_only",
        [{"cipher": {"key": "test-key", "encrypt_uri": False, "iv_field": "iv2"}}],
        "REQUEST_URI",
        b"echo",
        b"hello",
    ),
    ("cipher_then_hmac", [{"cipher": CIPHER, "hmac": HMAC}], "CREATE_URI", b"store/1", b"secret data"),
    ("cipher_then_hmac_empty", [{"cipher": CIPHER, "hmac": HMAC}], "OK", b"", b""),
    (
        "two_layers_inner_cipher",
        [
            {"cipher": CIPHER, "hmac": {"secret": "test"}},
            {"cipher": {"key": "inner-key", "iv_field": "iv2"}, "hmac": {"secret": "tset", "hmac_field": "camh"}},
        ],
        "PUBLISH_URI",
        b"topic",
        bytes(range(256)) * 8,
    ),
]


def decode_layers(layers):
    # JSON cannot carry bytes: a secret/key given as {"hex": ...} is raw bytes.
    out = []
    for layer in layers:
        new = {}
        for kind in ("hmac", "cipher"):
            cfg = layer.get(kind)
            if cfg:
                cfg = dict(cfg)
                for k in ("secret", "key"):
                    if isinstance(cfg.get(k), dict):
                        cfg[k] = bytes.fromhex(cfg[k]["hex"])
                new[kind] = cfg
        out.append(new)
    return out


def sign():
    for name, layers, mtype, uri, content in CASES:
        message = Message.prepare(Body.prepare(content, uri), MessageType[mtype], AuthFields({}))
        sealed = seal(message, decode_layers(layers))
        print(json.dumps({
            "name": name,
            "layers": layers,
            "message_type": MessageType[mtype].value,
            "plain_uri_hex": uri.hex(),
            "plain_content_hex": content.hex(),
            "frame_hex": sealed.encode().hex(),
        }), flush=True)


def verify():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        case = json.loads(line)
        result = {"name": case.get("name"), "ok": False, "checks": [], "uri_hex": None,
                  "content_hex": None, "error": None}
        try:
            message = Message.decode(bytes.fromhex(case["frame_hex"]))
            opened, checks = open_(message, decode_layers(case["layers"]))
            result["checks"] = checks
            if opened is not None:
                result["uri_hex"] = opened.body.uri.hex()
                result["content_hex"] = opened.body.content.hex()
                result["ok"] = (
                    opened.body.uri.hex() == case["plain_uri_hex"]
                    and opened.body.content.hex() == case["plain_content_hex"]
                    and opened.header.message_type.value == case["message_type"]
                )
        except Exception as e:  # report, never crash the run
            result["error"] = f"{type(e).__name__}: {e}"
        print(json.dumps(result), flush=True)


def main():
    version = importlib.metadata.version("netaio")
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "probe":
        print(json.dumps({"netaio": version}))
        sys.exit(0 if version == "0.0.9" else 1)
    elif mode == "sign":
        sign()
    elif mode == "verify":
        verify()
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
