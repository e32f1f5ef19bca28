"""netaio 0.0.9 UDPNodes against `framewire node --app-id netaio`.

Usage: netaio_node_check.py HOST PORT

Prints one line per scenario (`ok NAME` or `FAIL NAME: why`), then
`N passed, M failed`; exits 1 if anything failed. Every wait is bounded.
"""
import asyncio
import os
import sys
import traceback

import packify
from netaio import UDPNode, Message, MessageType, Body, Peer

MT = MessageType


async def node(name):
    me = Peer(addrs=set(), id=os.urandom(16), data=packify.pack({"name": name}))
    n = UDPNode(port=0, interface="127.0.0.1", local_peer=me, ignore_own_ip=False)
    n.logger.disabled = True
    await n.start()
    return n


async def requests(addr):
    n = await node("py-a")
    r = await n.request(b"echo", addr, content=b"hello", timeout=3)
    assert (r.header.message_type, r.body.content) == (MT.RESPOND_URI, b"hello"), r
    r = await n.create(b"k", b"v", addr, timeout=3)
    assert (r.header.message_type, r.body.content) == (MT.OK, b"stored"), r
    r = await n.request(b"k", addr, timeout=3)
    assert (r.header.message_type, r.body.content) == (MT.RESPOND_URI, b"v"), r
    r = await n.update(b"k", b"v2", addr, timeout=3)
    assert r.header.message_type == MT.OK, r
    r = await n.delete(b"k", addr, timeout=3)
    assert r.header.message_type == MT.OK, r
    # framewire names the uri in NOT_FOUND, so netaio's request matches it.
    r = await n.request(b"k", addr, timeout=3)
    assert r.header.message_type == MT.NOT_FOUND, r
    await n.stop()


async def discovery(addr):
    n = await node("py-b")
    await n.manage_peers_automatically(advertise_every=60, app_id=b"netaio")
    # netaio advertises to its multicast group only; say it to framewire too.
    advert = Message.prepare(Body.prepare(n.peer_plugin.pack(n.local_peer), b"netaio"), MT.ADVERTISE_PEER)
    n.send(advert, addr)
    for _ in range(100):
        if n.peers:
            break
        await asyncio.sleep(0.02)
    assert len(n.peers) == 1, n.peers
    peer = next(iter(n.peers.values()))
    assert packify.unpack(peer.data) == {"name": "fw-node"}, packify.unpack(peer.data)
    assert addr in peer.addrs, peer.addrs
    await n.stop()


async def pubsub(addr):
    sub = await node("py-sub")
    pub = await node("py-pub")
    got = asyncio.Queue()

    @sub.on((MT.NOTIFY_URI, b"news"))
    def note(msg, a):
        got.put_nowait(msg.body.content)

    @sub.on((MT.CONFIRM_SUBSCRIBE, b"news"))
    def confirmed(msg, a):
        got.put_nowait(b"confirmed")

    sub.send(Message.prepare(Body.prepare(b"", b"news"), MT.SUBSCRIBE_URI), addr)
    assert await asyncio.wait_for(got.get(), 3) == b"confirmed"
    r = await pub.request(b"pub/news", addr, message_type=MT.PUBLISH_URI, content=b"one", timeout=3)
    assert (r.header.message_type, r.body.content) == (MT.OK, b"published"), r
    assert await asyncio.wait_for(got.get(), 3) == b"one"
    await sub.stop()
    await pub.stop()


async def main():
    addr = (sys.argv[1], int(sys.argv[2]))
    passed = failed = 0
    for scenario in (requests, discovery, pubsub):
        try:
            await asyncio.wait_for(scenario(addr), 20)
            print(f"ok {scenario.__name__}", flush=True)
            passed += 1
        except Exception as e:
            print(f"FAIL {scenario.__name__}: {e!r}", flush=True)
            traceback.print_exc()
            failed += 1
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


asyncio.run(main())
