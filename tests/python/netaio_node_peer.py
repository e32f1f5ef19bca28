"""A real netaio 0.0.9 UDPNode for framewire's node to talk to.

Usage: netaio_node_peer.py SEED_HEX [--multicast PORT]

Binds 127.0.0.1:0 (or, with --multicast, 0.0.0.0:PORT in the group
224.0.0.1, sharing the port as multicast members on one host must, and
answering no advertisement: peers learn it from its own), manages
peers (app id `netaio`, advertising every second) with peer data
{"name": "py", "pubkey": <its X25519 key>}, and serves:
  REQUEST_URI echo        -> RESPOND_URI content
  CREATE/REQUEST_URI k... -> a small store (OK / RESPOND_URI / NOT_FOUND)
  REQUEST_URI peers       -> RESPOND_URI with its peers' names, sorted, comma-separated
  REQUEST_URI secret      -> RESPOND_URI b"got " + content, X25519-encrypted both ways
Prints `listening on HOST:PORT` once ready; runs 60 s (the test kills it
sooner).
"""
import asyncio
import socket
import sys

import packify
from netaio import UDPNode, Message, MessageType, Body, Peer, DefaultPeerPlugin
from netaio.asymmetric import X25519CipherPlugin

MT = MessageType


class SharedPortNode(UDPNode):
    """netaio's UDPNode, binding with SO_REUSEADDR so that two processes
    (this and framewire's group socket) can both bind the group's port."""

    async def start(self):
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.interface, self.port))
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=sock)


async def main():
    seed = bytes.fromhex(sys.argv[1])
    multicast = "--multicast" in sys.argv
    cipher = X25519CipherPlugin({"seed": seed})
    data = packify.pack({"name": "py", "pubkey": bytes(cipher.pubk)})
    me = Peer(addrs=set(), id=b"netaio-node-0001", data=data)
    if multicast:
        port = int(sys.argv[sys.argv.index("--multicast") + 1])
        node = SharedPortNode(port=port, interface="0.0.0.0", local_peer=me, ignore_own_ip=False)
    else:
        node = UDPNode(port=0, interface="127.0.0.1", local_peer=me, ignore_own_ip=False)
    node.logger.disabled = True
    store = {}

    @node.on((MT.REQUEST_URI, b"echo"))
    def echo(msg, addr):
        return Message.prepare(Body.prepare(msg.body.content, b"echo"), MT.RESPOND_URI)

    @node.on(MT.CREATE_URI)
    def create(msg, addr):
        store[msg.body.uri] = msg.body.content
        return Message.prepare(Body.prepare(b"stored", msg.body.uri), MT.OK)

    @node.on(MT.REQUEST_URI)
    def get(msg, addr):
        if msg.body.uri not in store:
            return Message.prepare(Body.prepare(b"not found", msg.body.uri), MT.NOT_FOUND)
        return Message.prepare(Body.prepare(store[msg.body.uri], msg.body.uri), MT.RESPOND_URI)

    @node.on((MT.REQUEST_URI, b"peers"))
    def peers(msg, addr):
        names = sorted(
            packify.unpack(p.data).get("name", "?") for p in node.peers.values()
        )
        return Message.prepare(Body.prepare(",".join(names).encode(), b"peers"), MT.RESPOND_URI)

    def secret(msg, addr):
        return Message.prepare(Body.prepare(b"got " + msg.body.content, b"secret"), MT.RESPOND_URI)

    node.add_handler((MT.REQUEST_URI, b"secret"), secret, cipher_plugin=cipher)

    await node.start()
    await node.manage_peers_automatically(advertise_every=1, app_id=b"netaio")
    if multicast:
        # Learn from advertisements without answering them, so a peer can
        # only learn this node from its own (multicast) advertisements.
        key = (MT.ADVERTISE_PEER, b"netaio")
        learn, auth, cipher_plugin = node.handlers[key]

        def quietly(msg, addr):
            learn(msg, addr)

        node.handlers[key] = (quietly, auth, cipher_plugin)
    host, port = node.transport.get_extra_info("sockname")[:2]
    print(f"listening on 127.0.0.1:{port}", flush=True)
    await asyncio.sleep(60)
    await node.stop()


asyncio.run(main())
