"""examples/team_rooms.rs's contract, in raw netaio 0.0.9 frames over TCP
(no auth): netaio encodes and decodes every frame, a plain socket carries
them. Used by tests/typed_services.rs.

Usage: team_rooms_check.py HOST PORT

Prints `contract holds` and exits 0, or raises (exit 1) naming the step.
Every socket read has a timeout.
"""
import json
import socket
import sys

from netaio import MessageType
from netaio_raw import call, receive

MT = MessageType
TIMEOUT = 10


def connect(host, port):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def kind(m):
    return m.header.message_type


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    alice, bob, mallory = (connect(host, port) for _ in range(3))

    r = call(bob, MT.SUBSCRIBE_URI, b"lobby")
    assert kind(r) == MT.CONFIRM_SUBSCRIBE, f"subscribe: {kind(r).name}"

    for i in range(22):
        post = json.dumps({"text": f"hello {i}"}).encode()
        r = call(alice, MT.PUBLISH_URI, b"post/lobby", post)
        assert kind(r) in (MT.OK, MT.RESPOND_URI), f"post {i}: {kind(r).name} {r.body.content!r}"
        note = receive(bob)
        assert kind(note) == MT.NOTIFY_URI, f"push {i}: {kind(note).name}"
        assert note.body.uri == b"lobby", f"push {i} uri {note.body.uri!r}"
        assert json.loads(note.body.content)["text"] == f"hello {i}", note.body.content

    r = call(mallory, MT.REQUEST_URI, b"history/lobby")
    assert kind(r) == MT.RESPOND_URI, f"history: {kind(r).name}"
    texts = [p["text"] for p in json.loads(r.body.content)]
    assert texts == [f"hello {i}" for i in range(2, 22)], texts

    for body, needle in [
        (b"not json", b"JSON"),
        (b"{}", b"text"),
        (json.dumps({"text": 5}).encode(), b"text"),
        (json.dumps({"text": ""}).encode(), b"text"),
        (json.dumps({"text": "x" * 501}).encode(), b"text"),
        (json.dumps({"other": "x"}).encode(), b"text"),
    ]:
        r = call(mallory, MT.PUBLISH_URI, b"post/lobby", body)
        assert kind(r) == MT.ERROR, f"{body[:20]!r}: {kind(r).name}"
        assert needle in r.body.content, f"{body[:20]!r}: {r.body.content!r}"

    for mtype, uri in [
        (MT.PUBLISH_URI, b"post/bad room"),
        (MT.PUBLISH_URI, b"post/" + b"a" * 65),
        (MT.REQUEST_URI, b"history/a.b"),
        (MT.SUBSCRIBE_URI, b"a/b"),
        (MT.REQUEST_URI, b"elsewhere"),
        (MT.CREATE_URI, b"post/lobby"),
    ]:
        r = call(mallory, mtype, uri, json.dumps({"text": "x"}).encode())
        assert kind(r) == MT.NOT_FOUND, f"{mtype.name} {uri[:20]!r}: {kind(r).name}"

    # A W3C traceparent as a framewire header (auth field `h:traceparent`):
    # the handler runs in the trace and its push carries it on, with the
    # handler's own span as the parent; netaio decodes it as one more field.
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    tp = f"00-{trace_id}-00f067aa0ba902b7-01".encode()
    post = json.dumps({"text": "traced"}).encode()
    r = call(alice, MT.PUBLISH_URI, b"post/lobby", post, {"h:traceparent": tp})
    assert kind(r) in (MT.OK, MT.RESPOND_URI), f"traced post: {kind(r).name}"
    note = receive(bob)
    carried = note.auth_data.fields.get("h:traceparent", b"").decode()
    parts = carried.split("-")
    assert len(parts) == 4 and parts[1] == trace_id, f"push trace: {carried!r}"
    assert parts[2] != "00f067aa0ba902b7", "the push's parent is the handler's span"

    # Nothing mallory sends stops the others: garbage closes mallory only.
    mallory.sendall(bytes([14, 0, 0, 0, 0, 0, 0, 0, 0]))
    r = call(alice, MT.PUBLISH_URI, b"post/lobby", json.dumps({"text": "still"}).encode())
    assert kind(r) in (MT.OK, MT.RESPOND_URI), kind(r).name
    note = receive(bob)
    assert json.loads(note.body.content)["text"] == "still"
    for s in (alice, bob, mallory):
        s.close()
    print("contract holds")


if __name__ == "__main__":
    main()
