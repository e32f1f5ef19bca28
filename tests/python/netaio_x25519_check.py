"""netaio 0.0.9's X25519CipherPlugin for tests/x25519_interop.rs, with its
own random nonces and split points (PyNaCl and tapescript needed:
`netaio.asymmetric` imports both).

Reads one JSON job on stdin:
  {"netaio_seed_hex", "framewire_peer_data_hex",
   "decrypt": [{"id", "encrypt_uri", "frame_hex"}],   # framewire sealed these for netaio
   "encrypt": [{"id", "encrypt_uri", "message_type", "uri_hex", "content_hex",
                "auth_fields": {name: hex}}]}         # netaio seals these for framewire
and prints one JSON object:
  {"pynacl", "netaio_pubkey_hex", "netaio_vkey_hex", "netaio_peer_data_hex",
   "decrypted": [{"id", "ok", "uri_hex", "content_hex", "auth_fields", "error"}],
   "encrypted": [{"id", "frame_hex"}]}
The framewire side is a netaio Peer whose data is framewire's own
`peer_data()` bytes, parsed by netaio's DefaultPeerPlugin.
"""
import importlib.metadata as md
import json
import sys

import packify
from netaio import AuthFields, Body, DefaultPeerPlugin, Message, MessageType, Peer
from netaio.asymmetric import X25519CipherPlugin


def main():
    job = json.load(sys.stdin)
    seed = bytes.fromhex(job["netaio_seed_hex"])
    framewire = Peer(addrs=set(), id=b"framewire",
                     data=bytes.fromhex(job["framewire_peer_data_hex"]))
    pp = DefaultPeerPlugin()
    me = X25519CipherPlugin({"seed": seed})

    out = {
        "pynacl": md.version("pynacl"),
        "netaio_pubkey_hex": bytes(me.pubk).hex(),
        "netaio_vkey_hex": bytes(me.vkey).hex(),
        "netaio_peer_data_hex": pp.encode_data({"pubkey": bytes(me.pubk)}).hex(),
        "decrypted": [],
        "encrypted": [],
    }

    for d in job["decrypt"]:
        p = X25519CipherPlugin({"seed": seed, "encrypt_uri": d["encrypt_uri"]})
        r = {"id": d["id"], "ok": False}
        try:
            m = p.decrypt(Message.decode(bytes.fromhex(d["frame_hex"])),
                          peer=framewire, peer_plugin=pp)
            r.update(ok=True, uri_hex=m.body.uri.hex(), content_hex=m.body.content.hex(),
                     auth_fields={k: bytes(v).hex() for k, v in m.auth_data.fields.items()})
        except Exception as e:  # noqa: BLE001 - reported to the Rust side
            r["error"] = f"{type(e).__name__}: {e}"
        out["decrypted"].append(r)

    for e in job["encrypt"]:
        p = X25519CipherPlugin({"seed": seed, "encrypt_uri": e["encrypt_uri"]})
        fields = {k: bytes.fromhex(v) for k, v in e["auth_fields"].items()}
        body = Body.prepare(bytes.fromhex(e["content_hex"]), bytes.fromhex(e["uri_hex"]))
        m = Message.prepare(body, MessageType(e["message_type"]), AuthFields(fields=fields))
        sealed = p.encrypt(m, peer=framewire, peer_plugin=pp)
        out["encrypted"].append({"id": e["id"], "frame_hex": sealed.encode().hex()})

    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
