//! The baseline for `framewire bench`: a bare tokio
//! server over the same frame bytes (netaio header + CRC, via the same
//! codec) with nothing else — no routing, no registry, no bounded queues,
//! no limits. With a secret it does the same HMAC work framewire does
//! (verify each request, sign each reply); for fan-out it encodes a
//! notification once and hands the bytes to every subscriber's writer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use framewire::auth::{Link, Role};
use framewire::{AuthPlugin, FrameCodec, Message, MessageType, Profile};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

type Subscribers = Arc<Mutex<HashMap<Bytes, Vec<mpsc::Sender<Bytes>>>>>;

/// Serves until the listener fails; spawn it and drop the task to stop.
pub async fn serve(listener: TcpListener, hmac: Option<Arc<dyn AuthPlugin>>) {
    let subs: Subscribers = Arc::default();
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let (hmac, subs) = (hmac.clone(), subs.clone());
        tokio::spawn(async move {
            let (rd, wr) = stream.into_split();
            let (tx, mut rx) = mpsc::channel::<Bytes>(1024);
            let writer = tokio::spawn(async move {
                let mut wr = tokio::io::BufWriter::with_capacity(64 * 1024, wr);
                while let Some(frame) = rx.recv().await {
                    if wr.write_all(&frame).await.is_err() {
                        return;
                    }
                    // Flush when nothing else is waiting, as framewire does.
                    if rx.is_empty() && wr.flush().await.is_err() {
                        return;
                    }
                }
            });
            let mut rd = FramedRead::new(rd, FrameCodec::new(Profile::Netaio));
            while let Some(Ok(Ok(msg))) = rd.next().await {
                if let Some(h) = &hmac {
                    if h.check(&msg, &Link::new(Role::Server)).is_err() {
                        continue;
                    }
                }
                let reply = match msg.message_type {
                    MessageType::SUBSCRIBE_URI => {
                        lock(&subs)
                            .entry(msg.uri().clone())
                            .or_default()
                            .push(tx.clone());
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
                        let frame = seal(&hmac, note);
                        let targets = lock(&subs).get(&topic).cloned().unwrap_or_default();
                        for t in targets {
                            let _ = t.try_send(frame.clone());
                        }
                        Message::ok(msg.uri().clone(), "published")
                    }
                    _ => Message::respond(msg.uri().clone(), msg.content().clone()),
                };
                if tx.send(seal(&hmac, reply)).await.is_err() {
                    break;
                }
            }
            drop(tx);
            let _ = writer.await;
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn seal(hmac: &Option<Arc<dyn AuthPlugin>>, mut msg: Message) -> Bytes {
    if let Some(h) = hmac {
        let _ = h.make(&mut msg, &Link::new(Role::Server));
    }
    let mut buf = BytesMut::new();
    let _ = msg.encode(Profile::Netaio, &mut buf);
    buf.freeze()
}
