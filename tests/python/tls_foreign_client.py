"""A TLS client no framewire code wrote: Python's `ssl` module wrapping a
socket that carries frames encoded and decoded by netaio 0.0.9's own
`Message` class, against `framewire serve --tls-cert ... --tls-key ...`.

Usage: tls_foreign_client.py HOST PORT CA_PEM [--cert PEM --key PEM]

Prints one line per check (`ok NAME`); exits 1 on the first failure.
Every socket operation has a 10 s timeout.
"""
import argparse
import socket
import ssl
import sys

from netaio import MessageType
from netaio_raw import call


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    a = p.parse_args()

    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=a.ca)
    ctx.set_alpn_protocols(["framewire"])
    if a.cert:
        ctx.load_cert_chain(a.cert, a.key)
    raw = socket.create_connection((a.host, a.port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        assert s.selected_alpn_protocol() == "framewire", s.selected_alpn_protocol()
        print(f"ok handshake {s.version()} alpn={s.selected_alpn_protocol()}")
        for content in (b"", b"hello", bytes(range(256)) * 200):
            r = call(s, MessageType.REQUEST_URI, b"echo", content)
            got = (r.header.message_type, r.body.uri, r.body.content)
            assert got == (MessageType.RESPOND_URI, b"echo", content), got[:2]
        print("ok echo")
        r = call(s, MessageType.CREATE_URI, b"greeting", b"hi there")
        assert r.header.message_type == MessageType.OK, r.header.message_type
        r = call(s, MessageType.REQUEST_URI, b"greeting")
        assert r.body.content == b"hi there", r.body.content
        print("ok store")
        r = call(s, MessageType.SUBSCRIBE_URI, b"news")
        assert r.header.message_type == MessageType.CONFIRM_SUBSCRIBE, r.header.message_type
        print("ok subscribe")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # one line for the test's assertion message
        print(f"FAIL {type(e).__name__}: {e}")
        sys.exit(1)
