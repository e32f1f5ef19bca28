//! The baseline `framewire bench` compares against: the strongest simple
//! server over the same frames. Per connection, tokio-util's `FramedRead`
//! → `forward` → `FramedWrite`: every frame already in the read buffer is
//! decoded, each reply is encoded into the one write buffer, and the buffer
//! is flushed only when the read side would block. Nothing else — no
//! routing, registry, bounded queues, deadlines or limits. With a secret it
//! does the same plugin work framewire does (verify each request, sign each
//! reply). For fan-out it encodes a notification once and hands the bytes
//! to each subscriber's connection, merged into that connection's writes.
//!
//! Run it as `framewire bench-baseline --addr 127.0.0.1:0 [AUTH]` (hidden
//! from `--help`): `framewire bench` starts it as a child process so its
//! CPU time can be read on its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use framewire::auth::{Link, Role};
use framewire::tls::rustls;
use framewire::{AuthPlugin, FrameCodec, Message, MessageType, Profile};
use futures_util::{stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::{Encoder, FramedRead, FramedWrite};

type Subscribers = Arc<Mutex<HashMap<Bytes, Vec<mpsc::Sender<Bytes>>>>>;

const SERVER: Link<'static> = Link::new(Role::Server);

/// Serves until the listener fails; over TLS with `tls` (a bare
/// tokio-rustls accept, no handshake deadline).
pub async fn serve(
    listener: TcpListener,
    auth: Option<Arc<dyn AuthPlugin>>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let subs: Subscribers = Arc::default();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let (auth, subs) = (auth.clone(), subs.clone());
        match &acceptor {
            // TCP halves need no lock between them.
            None => {
                let (rd, wr) = stream.into_split();
                tokio::spawn(connection(rd, wr, auth, subs));
            }
            Some(acceptor) => {
                let accept = acceptor.accept(stream);
                tokio::spawn(async move {
                    if let Ok(tls) = accept.await {
                        let (rd, wr) = tokio::io::split(tls);
                        connection(rd, wr, auth, subs).await;
                    }
                });
            }
        }
    }
}

/// What a connection writes: a reply to encode, or a notification
/// encoded once for every subscriber.
enum Out {
    Reply(Message),
    Encoded(Bytes),
}

struct OutCodec(FrameCodec);

impl Encoder<Out> for OutCodec {
    type Error = framewire::Error;

    fn encode(&mut self, item: Out, dst: &mut BytesMut) -> Result<(), Self::Error> {
        match item {
            Out::Reply(m) => self.0.encode(m, dst),
            Out::Encoded(b) => {
                dst.extend_from_slice(&b);
                Ok(())
            }
        }
    }
}

async fn connection(
    rd: impl AsyncRead + Unpin,
    wr: impl AsyncWrite + Unpin,
    auth: Option<Arc<dyn AuthPlugin>>,
    subs: Subscribers,
) {
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    let handler = Handler { auth, subs, tx };
    // `None` marks the end of the peer's frames: the connection ends then,
    // not when the last publisher forgets it.
    let replies = FramedRead::new(rd, FrameCodec::new(Profile::Netaio))
        .map(move |item| match item {
            Ok(Ok(msg)) => handler.reply(msg),
            _ => None,
        })
        .filter_map(|reply| std::future::ready(reply.map(|r| Some(Out::Reply(r)))))
        .chain(stream::once(std::future::ready(None)));
    let notes = stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Some(Out::Encoded(b)), rx))
    });
    let out = stream::select(replies, notes)
        .take_while(|item| std::future::ready(item.is_some()))
        .map(|item| Ok(item.expect("ends before None")));
    let sink = FramedWrite::new(wr, OutCodec(FrameCodec::new(Profile::Netaio)));
    let _ = out.forward(sink).await;
}

struct Handler {
    auth: Option<Arc<dyn AuthPlugin>>,
    subs: Subscribers,
    tx: mpsc::Sender<Bytes>,
}

impl Handler {
    fn reply(&self, msg: Message) -> Option<Message> {
        if let Some(a) = &self.auth {
            a.check(&msg, &SERVER).ok()?;
        }
        let reply = match msg.message_type {
            MessageType::SUBSCRIBE_URI => {
                lock(&self.subs)
                    .entry(Bytes::copy_from_slice(msg.uri()))
                    .or_default()
                    .push(self.tx.clone());
                Message::new(MessageType::CONFIRM_SUBSCRIBE, msg.uri().clone(), "")
            }
            MessageType::PUBLISH_URI => {
                let topic = msg
                    .uri()
                    .slice_ref(msg.uri().strip_prefix(b"pub/").unwrap_or(msg.uri()));
                let note = Message::new(
                    MessageType::NOTIFY_URI,
                    topic.clone(),
                    msg.content().clone(),
                );
                let frame = self.encode(note);
                let targets = lock(&self.subs).get(&topic).cloned().unwrap_or_default();
                for t in targets {
                    let _ = t.try_send(frame.clone());
                }
                Message::ok(msg.uri().clone(), "published")
            }
            _ => Message::respond(msg.uri().clone(), msg.content().clone()),
        };
        Some(self.sign(reply))
    }

    fn sign(&self, mut msg: Message) -> Message {
        if let Some(a) = &self.auth {
            let _ = a.make(&mut msg, &SERVER);
        }
        msg
    }

    fn encode(&self, msg: Message) -> Bytes {
        let mut buf = BytesMut::new();
        let _ = self.sign(msg).encode(Profile::Netaio, &mut buf);
        buf.freeze()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The UDP baseline: one thread blocking on one socket (no runtime, no
/// wake-ups); each datagram decoded as one frame (CRC checked) and answered
/// with the echo reply, encoded into one reused buffer. Nothing else: no
/// routing, limits, tasks or guard.
pub async fn serve_udp(socket: tokio::net::UdpSocket) {
    let Ok(socket) = socket.into_std() else {
        return;
    };
    if socket.set_nonblocking(false).is_err() {
        return;
    }
    let _ = tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; 65_536];
        let mut out = BytesMut::new();
        let mut codec = FrameCodec::new(Profile::Netaio);
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let datagram = Bytes::copy_from_slice(&buf[..n]);
            let Ok(request) = Message::decode(Profile::Netaio, datagram) else {
                continue;
            };
            let reply = Message::respond(request.uri().clone(), request.content().clone());
            out.clear();
            if codec.encode(reply, &mut out).is_ok() {
                let _ = socket.send_to(&out, from);
            }
        }
    })
    .await;
}
