"""A real netaio 0.0.9 TCPServer serving the same route contract as
`framewire serve` (netaio's readme example server), for framewire's
client interop tests.

Usage: netaio_server.py HOST PORT [--secret S]

Prints `listening on HOST:PORT` (the real port when PORT is 0) once it
accepts connections; runs until killed.
"""
import argparse
import asyncio
import logging
import sys

import packify
from netaio import (
    Peer, DefaultPeerPlugin,
    TCPServer, HMACAuthPlugin, MessageType, Message, Body,
    make_respond_uri_msg, make_ok_msg, make_error_msg, make_not_found_msg,
)

MT = MessageType


def build(host, port, secret):
    plugin = HMACAuthPlugin({"secret": secret}) if secret else None
    server = TCPServer(port=port, interface=host, auth_plugin=plugin)
    server.logger.setLevel(logging.CRITICAL)
    store = {}

    def reply(mtype, uri, content=b""):
        return Message.prepare(Body.prepare(content, uri), mtype)

    @server.on((MT.REQUEST_URI, b"echo"))
    def echo(msg, writer):
        return make_respond_uri_msg(msg.body.content, b"echo")

    # With --peer-name: how many peers the server knows (their names).
    @server.on((MT.REQUEST_URI, b"peers"))
    def peers(msg, writer):
        names = sorted(packify.unpack(p.data).get("name", "?") for p in server.peers.values())
        return make_respond_uri_msg(",".join(names).encode(), b"peers")

    @server.on(MT.CREATE_URI)
    def create(msg, writer):
        uri = msg.body.uri
        if uri in store:
            return make_error_msg("cannot overwrite", uri)
        store[uri] = msg.body.content
        return make_ok_msg(b"stored", uri)

    @server.on(MT.REQUEST_URI)
    def read(msg, writer):
        uri = msg.body.uri
        if uri not in store:
            return make_not_found_msg(uri=uri)
        return make_respond_uri_msg(store[uri], uri)

    @server.on(MT.UPDATE_URI)
    def update(msg, writer):
        uri = msg.body.uri
        if uri not in store:
            return make_not_found_msg(uri=uri)
        store[uri] = msg.body.content
        return make_ok_msg(b"stored", uri)

    @server.on(MT.DELETE_URI)
    def delete(msg, writer):
        uri = msg.body.uri
        if uri not in store:
            return make_not_found_msg(uri=uri)
        del store[uri]
        return make_ok_msg(b"deleted", uri)

    # Topics under ok/ are confirmed with OK, which netaio's own
    # request(uri, message_type=SUBSCRIBE_URI) accepts (it waits for OK
    # after any type but REQUEST_URI); the rest as the readme does.
    @server.on(MT.SUBSCRIBE_URI)
    def subscribe(msg, writer):
        server.subscribe(msg.body.uri, writer)
        if msg.body.uri.startswith(b"ok/"):
            return make_ok_msg(b"subscribed", msg.body.uri)
        return reply(MT.CONFIRM_SUBSCRIBE, msg.body.uri)

    @server.on(MT.UNSUBSCRIBE_URI)
    def unsubscribe(msg, writer):
        subs = server.subscriptions.get(msg.body.uri, set())
        if writer in subs:
            server.unsubscribe(msg.body.uri, writer)
        if msg.body.uri.startswith(b"ok/"):
            return make_ok_msg(b"unsubscribed", msg.body.uri)
        return reply(MT.CONFIRM_UNSUBSCRIBE, msg.body.uri)

    @server.on(MT.PUBLISH_URI)
    async def publish(msg, writer):
        uri = msg.body.uri
        if uri == b"broadcast":
            await server.broadcast(reply(MT.NOTIFY_URI, b"broadcast", msg.body.content))
            return make_ok_msg(b"broadcast", uri)
        if uri.startswith(b"pub/"):
            topic = uri[4:]
            await server.notify(topic, reply(MT.NOTIFY_URI, topic, msg.body.content))
            return make_ok_msg(b"published", uri)
        return make_not_found_msg(uri=uri)

    return server


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--secret")
    p.add_argument("--peer-name", help="manage peers as {'name': NAME}")
    args = p.parse_args()
    server = build(args.host, args.port, args.secret)
    if args.peer_name:
        server.local_peer = Peer(addrs=set(), id=b"netaio-server-01", data=packify.pack({"name": args.peer_name}))
        server.peer_plugin = DefaultPeerPlugin()
        await server.manage_peers_automatically()
    task = asyncio.create_task(server.start())
    for _ in range(500):
        if getattr(server, "server", None) is not None:
            break
        await asyncio.sleep(0.01)
    else:
        print("server did not start", file=sys.stderr)
        return 1
    port = server.server.sockets[0].getsockname()[1]
    print(f"listening on {args.host}:{port}", flush=True)
    await task
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        pass
