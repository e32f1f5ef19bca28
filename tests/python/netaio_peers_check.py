"""netaio 0.0.9 TCPClients with peer management (manage_peers_automatically)
against `framewire serve --peers --peer-name NAME`.

Usage: netaio_peers_check.py HOST PORT NAME

Prints one line per scenario (`ok NAME` or `FAIL NAME: why`), then
`N passed, M failed`; exits 1 if anything failed. Every wait is bounded.
"""
import asyncio
import os
import sys
import traceback

import packify
from netaio import TCPClient, MessageType, Message, Body, Peer, DefaultPeerPlugin

MT = MessageType


def client(host, port, name, data=None):
    me = Peer(addrs=set(), id=os.urandom(16), data=data if data is not None else packify.pack({"name": name}))
    c = TCPClient(host, port, local_peer=me, peer_plugin=DefaultPeerPlugin())
    c.logger.disabled = True
    return c


async def recv(c, timeout=5.0):
    return await asyncio.wait_for(c.receive_once(use_auth=False, use_cipher=False), timeout)


async def discovered(host, port, name):
    a = client(host, port, "py-a")
    await a.connect()
    await a.manage_peers_automatically()  # advertises on the open connection
    await recv(a)  # PEER_DISCOVERED, handled: the server becomes a peer
    assert len(a.peers) == 1, a.peers
    server = next(iter(a.peers.values()))
    assert len(server.id) == 16, server.id
    assert packify.unpack(server.data) == {"name": name}, packify.unpack(server.data)
    await a.close()  # sends DISCONNECT, then closes


async def disconnect_drops_subscriptions(host, port, name):
    a = client(host, port, "py-a")
    b = client(host, port, "py-b")
    await a.connect()
    await b.connect()
    await a.manage_peers_automatically()
    await recv(a)
    await a.send(Message.prepare(Body.prepare(b"", b"news"), MT.SUBSCRIBE_URI))
    m = await recv(a)
    assert m.header.message_type == MT.CONFIRM_SUBSCRIBE, m.header.message_type
    await b.send(Message.prepare(Body.prepare(b"one", b"pub/news"), MT.PUBLISH_URI))
    m = await recv(a)
    assert (m.header.message_type, m.body.content) == (MT.NOTIFY_URI, b"one"), m
    # DISCONNECT without closing: the server drops a's subscriptions.
    await a.send(a._disconnect_msg.copy())
    await asyncio.sleep(0.2)
    await b.send(Message.prepare(Body.prepare(b"two", b"pub/news"), MT.PUBLISH_URI))
    try:
        m = await recv(a, timeout=1.0)
        raise AssertionError(f"still subscribed: got {m.header.message_type} {m.body.content!r}")
    except asyncio.TimeoutError:
        pass
    await a.close()
    await b.close()


async def other_app_id_is_not_managed(host, port, name):
    c = client(host, port, "py-c")
    await c.connect()
    await c.manage_peers_automatically(app_id=b"other-app")
    m = await recv(c)
    assert m.header.message_type == MT.NOT_FOUND, m.header.message_type
    assert not c.peers, c.peers
    await c.close()


async def main():
    host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    passed = failed = 0
    for scenario in (discovered, disconnect_drops_subscriptions, other_app_id_is_not_managed):
        try:
            await asyncio.wait_for(scenario(host, port, name), 30)
            print(f"ok {scenario.__name__}")
            passed += 1
        except Exception as e:
            print(f"FAIL {scenario.__name__}: {e!r}")
            traceback.print_exc()
            failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


asyncio.run(main())
