"""Raw netaio 0.0.9 frames over a plain (or TLS) socket, for the scripts
beside it: netaio encodes and decodes every frame, the socket carries
them. A socket's reads end at its own timeout."""

from netaio import AuthFields, Body, Header, Message


def read_exactly(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise EOFError(f"closed after {len(out)} of {n} bytes")
        out += chunk
    return out


def receive(sock):
    """The next frame, decoded by netaio, its checksum checked."""
    head = read_exactly(sock, Header.header_length())
    header = Header.decode(head)
    rest = read_exactly(sock, header.auth_length + header.body_length)
    msg = Message.decode(head + rest)
    assert msg.check(), "checksum"
    return msg


def send(sock, mtype, uri, content=b"", fields=None):
    """One frame; `fields` (a dict of bytes) as its auth fields."""
    auth = AuthFields(fields) if fields else None
    sock.sendall(Message.prepare(Body.prepare(content, uri), mtype, auth).encode())


def call(sock, mtype, uri, content=b"", fields=None):
    send(sock, mtype, uri, content, fields)
    return receive(sock)
