"""netaio 0.0.9 TCPClient scenarios against a server implementing the
route contract of `framewire serve` (netaio's readme server).

Usage: netaio_client_check.py HOST PORT [--secret S] [--timeout T]

Prints one line per scenario (`ok NAME` or `FAIL NAME: why`), then
`N passed, M failed`; exits 1 if anything failed. Every wait is bounded.
"""
import argparse
import asyncio
import sys
import traceback

from netaio import TCPClient, HMACAuthPlugin, MessageType, Message, Body

MT = MessageType


def client(args):
    plugin = HMACAuthPlugin({"secret": args.secret}) if args.secret else None
    c = TCPClient(args.host, args.port, auth_plugin=plugin)
    c.logger.disabled = True
    return c


async def recv(c, args, want_type=None):
    """Next message that passes the client's checks, bounded in time."""
    async def loop():
        while True:
            m = await c.receive_once()
            if m is not None and (want_type is None or m.header.message_type == want_type):
                return m
    return await asyncio.wait_for(loop(), args.timeout)


async def send(c, mtype, uri, content=b""):
    await c.send(Message.prepare(Body.prepare(content, uri), mtype))


def expect(m, mtype, uri, content):
    got = (m.header.message_type, m.body.uri, m.body.content)
    want = (mtype, uri, content)
    assert got == want, f"got {got[0].name} {got[1]!r} {got[2][:40]!r}, want {want[0].name} {want[1]!r} {want[2][:40]!r}"


async def echo_variants(args):
    c = client(args)
    await c.connect()
    try:
        # Largest content netaio's Body.prepare allows with uri b'echo'.
        for content in (b"", bytes(range(256)), b"hello", bytes(i % 251 for i in range(65418))):
            r = await c.request(b"echo", content=content, timeout=args.timeout)
            expect(r, MT.RESPOND_URI, b"echo", content)
    finally:
        await c.close()


async def crud_cycle(args):
    c = client(args)
    await c.connect()
    t = args.timeout
    key = b"key-crud"
    try:
        expect(await c.request(key, timeout=t), MT.NOT_FOUND, key, b"not found")
        expect(await c.create(key, b"v1", timeout=t), MT.OK, key, b"stored")
        expect(await c.create(key, b"v1", timeout=t), MT.ERROR, key, b"cannot overwrite")
        expect(await c.request(key, timeout=t), MT.RESPOND_URI, key, b"v1")
        expect(await c.update(key, b"v2", timeout=t), MT.OK, key, b"stored")
        expect(await c.request(key, timeout=t), MT.RESPOND_URI, key, b"v2")
        expect(await c.delete(key, timeout=t), MT.OK, key, b"deleted")
        expect(await c.request(key, timeout=t), MT.NOT_FOUND, key, b"not found")
        expect(await c.update(key, b"v3", timeout=t), MT.NOT_FOUND, key, b"not found")
        expect(await c.delete(key, timeout=t), MT.NOT_FOUND, key, b"not found")
    finally:
        await c.close()


async def unknown_routes(args):
    c = client(args)
    await c.connect()
    try:
        # Default handler: NOT_FOUND with uri b'' (not the request's).
        await send(c, MT.PEER_DISCOVERED, b"whatever")
        expect(await recv(c, args), MT.NOT_FOUND, b"", b"not found")
        r = await c.request(b"nope", message_type=MT.PUBLISH_URI, timeout=args.timeout)
        expect(r, MT.NOT_FOUND, b"nope", b"not found")
    finally:
        await c.close()


async def subscribe_notify_unsubscribe(args):
    sub, pub = client(args), client(args)
    await sub.connect()
    await pub.connect()
    try:
        await send(sub, MT.SUBSCRIBE_URI, b"topic1")
        expect(await recv(sub, args), MT.CONFIRM_SUBSCRIBE, b"topic1", b"")
        r = await pub.request(b"pub/topic1", message_type=MT.PUBLISH_URI, content=b"hi", timeout=args.timeout)
        expect(r, MT.OK, b"pub/topic1", b"published")
        expect(await recv(sub, args), MT.NOTIFY_URI, b"topic1", b"hi")
        await send(sub, MT.UNSUBSCRIBE_URI, b"topic1")
        expect(await recv(sub, args), MT.CONFIRM_UNSUBSCRIBE, b"topic1", b"")
        r = await pub.request(b"pub/topic1", message_type=MT.PUBLISH_URI, content=b"gone", timeout=args.timeout)
        expect(r, MT.OK, b"pub/topic1", b"published")
        # Nothing more for the unsubscribed client: the next thing it sees
        # is the answer to its own echo.
        r = await sub.request(b"echo", content=b"ping", timeout=args.timeout)
        expect(r, MT.RESPOND_URI, b"echo", b"ping")
    finally:
        await sub.close()
        await pub.close()


async def broadcast_to_several(args):
    clients = [client(args) for _ in range(4)]
    for c in clients:
        await c.connect()
    try:
        # Make sure all four are registered before broadcasting.
        for c in clients:
            expect(await c.request(b"echo", content=b"hi", timeout=args.timeout), MT.RESPOND_URI, b"echo", b"hi")
        r = await clients[0].request(b"broadcast", message_type=MT.PUBLISH_URI, content=b"all", timeout=args.timeout)
        expect(r, MT.OK, b"broadcast", b"broadcast")
        for c in clients[1:]:
            expect(await recv(c, args), MT.NOTIFY_URI, b"broadcast", b"all")
    finally:
        for c in clients:
            await c.close()


async def wrong_secret_is_refused(args):
    if not args.secret:
        return
    bad = TCPClient(args.host, args.port, auth_plugin=HMACAuthPlugin({"secret": "wrong-" + args.secret}))
    bad.logger.disabled = True
    await bad.connect()
    try:
        await send(bad, MT.REQUEST_URI, b"echo", b"x")
        # The server answers with an unsigned AUTH_ERROR, which this
        # client's own check then drops: read it raw, without plugins.
        m = await asyncio.wait_for(bad.receive_once(use_auth=False), args.timeout)
        expect(m, MT.AUTH_ERROR, b"ERROR", b"HMAC auth failed")
        assert not m.auth_data.fields, "AUTH_ERROR must be unsigned"
    finally:
        await bad.close()


SCENARIOS = [
    echo_variants,
    crud_cycle,
    unknown_routes,
    subscribe_notify_unsubscribe,
    broadcast_to_several,
    wrong_secret_is_refused,
]


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--secret")
    p.add_argument("--timeout", type=float, default=5.0)
    args = p.parse_args()
    passed = failed = 0
    for scenario in SCENARIOS:
        try:
            await asyncio.wait_for(scenario(args), 60)
            print(f"ok {scenario.__name__}", flush=True)
            passed += 1
        except Exception as e:  # report every scenario, then fail
            print(f"FAIL {scenario.__name__}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(file=sys.stderr)
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
