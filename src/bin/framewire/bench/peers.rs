//! Fan-out against what users would pick instead for pub/sub:
//! `redis-server` (RESP `SUBSCRIBE` / `PUBLISH`) and `nats-server` (`SUB` /
//! `PUB`), each reached through its own protocol, under the same closed
//! loop as framewire's fan-out ([`load::publish_with`]).
//!
//! The clients are written here, not taken from the `redis` or
//! `async-nats` crates: they speak only the few commands the bench needs,
//! so the load generator does about the same work per delivery for every
//! server (find the frame, check its length, count it). A full client
//! library would parse into owned values and spend more of the shared
//! two cores than framewire's raw subscribers do, which would flatter the
//! peers' figures less than their servers deserve — or framewire's more.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{future, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder, Framed};

use super::load::{self, Budget, Deliveries};
use super::servers::Server;

/// Which peer server, and so which protocol, a fan-out target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Proto {
    Redis,
    Nats,
}

/// The topic every subscriber listens on.
const TOPIC: &str = "bench";

impl Proto {
    /// The program, as the report names the target.
    pub(super) fn name(self) -> &'static str {
        match self {
            Proto::Redis => "redis-server",
            Proto::Nats => "nats-server",
        }
    }

    /// Starts the peer server as a child on a free loopback port.
    pub(super) async fn start(self) -> Result<Server, String> {
        match self {
            Proto::Redis => Server::redis().await,
            Proto::Nats => {
                Server::program("nats-server", |port| {
                    ["-a", "127.0.0.1", "-p", port].map(String::from).to_vec()
                })
                .await
            }
        }
    }

    /// A connection subscribed to [`TOPIC`], once the server confirmed it.
    async fn subscriber(self, addr: &str) -> Result<Framed<TcpStream, PeerCodec>, String> {
        let hello: &[u8] = match self {
            Proto::Redis => b"SUBSCRIBE bench\r\n",
            Proto::Nats => {
                b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB bench 1\r\nPING\r\n"
            }
        };
        self.connect(addr, hello).await
    }

    /// A connection that publishes, once the server has answered a ping.
    /// NATS in verbose mode acknowledges every `PUB` with `+OK`; Redis
    /// answers every `PUBLISH` with the number of receivers.
    async fn publisher(self, addr: &str) -> Result<Framed<TcpStream, PeerCodec>, String> {
        let hello: &[u8] = match self {
            Proto::Redis => b"PING\r\n",
            Proto::Nats => b"CONNECT {\"verbose\":true,\"pedantic\":false}\r\nPING\r\n",
        };
        self.connect(addr, hello).await
    }

    /// Connects, sends `hello` and reads until [`Event::Ready`] (10 s at most).
    async fn connect(
        self,
        addr: &str,
        hello: &'static [u8],
    ) -> Result<Framed<TcpStream, PeerCodec>, String> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut c = Framed::new(tcp, PeerCodec { proto: self });
        c.send(Bytes::from_static(hello))
            .await
            .map_err(|e| e.to_string())?;
        let ready = async {
            // Bounded by the timeout around it.
            loop {
                match c.next().await {
                    Some(Ok(Event::Ready)) => return Ok(()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.to_string()),
                    None => return Err(format!("{self:?} server closed the connection")),
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), ready)
            .await
            .map_err(|_| format!("{self:?} server did not answer"))??;
        Ok(c)
    }

    /// The bytes of one publish of `payload` to [`TOPIC`].
    fn publish(self, payload: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(payload.len() + 64);
        match self {
            Proto::Redis => out.extend_from_slice(
                format!(
                    "*3\r\n$7\r\nPUBLISH\r\n${}\r\n{TOPIC}\r\n${}\r\n",
                    TOPIC.len(),
                    payload.len()
                )
                .as_bytes(),
            ),
            Proto::Nats => {
                out.extend_from_slice(format!("PUB {TOPIC} {}\r\n", payload.len()).as_bytes())
            }
        }
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
        Bytes::from(out)
    }
}

/// One publisher and `subscribers` subscribers on the peer server at
/// `addr`: (deliveries per second, deliveries lost). A delivery counts only
/// if its payload has the published length.
pub(super) async fn fanout(
    proto: Proto,
    addr: &str,
    size: usize,
    budget: Budget,
    subscribers: usize,
) -> Result<(f64, u64), String> {
    let received = Arc::new(Deliveries::new(subscribers));
    let mut readers = Vec::new();
    for i in 0..subscribers {
        let mut c = proto.subscriber(addr).await?;
        let received = received.clone();
        readers.push(tokio::spawn(async move {
            while let Some(Ok(event)) = c.next().await {
                match event {
                    Event::Delivery(n) if n == size => {
                        received.record(i);
                    }
                    // NATS drops a client that leaves its pings unanswered.
                    Event::Ping => {
                        let pong = c.send(Bytes::from_static(b"PONG\r\n")).await;
                        if pong.is_err() {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }));
    }
    let (tx, rx) = proto.publisher(addr).await?.split();
    let acks = rx
        .take_while(|e| future::ready(e.is_ok()))
        .filter_map(|e| future::ready(matches!(e, Ok(Event::Ack)).then_some(())));
    let message = proto.publish(&vec![b'n'; size]);
    let published = load::publish_with(tx, acks, budget, &received, subscribers, |_| {
        message.clone()
    })
    .await;
    for r in readers {
        r.abort();
    }
    Ok(published?.outcome(&received))
}

/// What a peer server sent, as far as the bench cares.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    /// A message on the topic, with its payload's length.
    Delivery(usize),
    /// A publish acknowledged (Redis `:N`, NATS `+OK`).
    Ack,
    /// The hello was answered (Redis `subscribe` or `+PONG`, NATS `PONG`).
    Ready,
    /// NATS asks for a `PONG`.
    Ping,
    /// Anything else (NATS `INFO`, …).
    Other,
}

/// The longest line (RESP header, NATS control line) the bench accepts.
const MAX_LINE: usize = 64 * 1024;
/// The longest payload the bench accepts.
const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// Decodes what a Redis or NATS server sends into [`Event`]s; encodes by
/// passing bytes through (the bench builds its commands itself).
struct PeerCodec {
    proto: Proto,
}

/// A reader over the bytes buffered so far: `None` from any method means
/// "need more bytes".
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// The next line without its CRLF.
    fn line(&mut self) -> Result<Option<&'a [u8]>, String> {
        let rest = &self.buf[self.pos..];
        let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return if rest.len() > MAX_LINE {
                Err("line too long".into())
            } else {
                Ok(None)
            };
        };
        self.pos += end + 2;
        Ok(Some(&rest[..end]))
    }

    /// Skips `n` payload bytes and their CRLF.
    fn payload(&mut self, n: usize) -> Result<Option<&'a [u8]>, String> {
        if n > MAX_PAYLOAD {
            return Err(format!("payload of {n} bytes"));
        }
        let rest = &self.buf[self.pos..];
        if rest.len() < n + 2 {
            return Ok(None);
        }
        if &rest[n..n + 2] != b"\r\n" {
            return Err("payload not followed by CRLF".into());
        }
        self.pos += n + 2;
        Ok(Some(&rest[..n]))
    }
}

fn number(digits: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not a number: {:?}", String::from_utf8_lossy(digits)))
}

/// Shorthand: return `Ok(None)` when the cursor needs more bytes.
macro_rules! more {
    ($e:expr) => {
        match $e? {
            Some(v) => v,
            None => return Ok(None),
        }
    };
}

/// One RESP reply: a simple string, error, integer or an array of bulk
/// strings and integers (what `SUBSCRIBE` and pub/sub messages are).
fn resp(c: &mut Cursor<'_>) -> Result<Option<Event>, String> {
    let line = more!(c.line());
    let (kind, rest) = line.split_first().ok_or("empty RESP line")?;
    Ok(Some(match kind {
        b'+' if rest == b"PONG" => Event::Ready,
        b'+' => Event::Other,
        b'-' => return Err(format!("redis: {}", String::from_utf8_lossy(rest))),
        b':' => Event::Ack,
        b'*' => {
            let n = number(rest)?;
            if !(0..=16).contains(&n) {
                return Err(format!("RESP array of {n}"));
            }
            let (mut first, mut last_len) = (None, 0usize);
            for _ in 0..n {
                let line = more!(c.line());
                let (kind, rest) = line.split_first().ok_or("empty RESP line")?;
                match kind {
                    b':' => last_len = 0,
                    b'$' => {
                        let len = number(rest)?;
                        let len = usize::try_from(len).map_err(|_| "null bulk string")?;
                        let body = more!(c.payload(len));
                        first.get_or_insert(body);
                        last_len = len;
                    }
                    _ => return Err("unexpected RESP element".into()),
                }
            }
            match first {
                Some(b"message") if n == 3 => Event::Delivery(last_len),
                Some(b"subscribe") => Event::Ready,
                _ => Event::Other,
            }
        }
        _ => return Err(format!("unexpected RESP type {:?}", *kind as char)),
    }))
}

/// One NATS protocol message: `MSG subject sid [reply-to] #bytes` with its
/// payload, or a control line.
fn nats(c: &mut Cursor<'_>) -> Result<Option<Event>, String> {
    let line = more!(c.line());
    Ok(Some(if let Some(args) = line.strip_prefix(b"MSG ") {
        let len = args.rsplit(|&b| b == b' ').next().unwrap_or_default();
        let len = usize::try_from(number(len)?).map_err(|_| "negative MSG length")?;
        more!(c.payload(len));
        Event::Delivery(len)
    } else if line == b"+OK" {
        Event::Ack
    } else if line == b"PONG" {
        Event::Ready
    } else if line == b"PING" {
        Event::Ping
    } else if let Some(e) = line.strip_prefix(b"-ERR") {
        return Err(format!("nats: {}", String::from_utf8_lossy(e).trim()));
    } else {
        Event::Other
    }))
}

impl Decoder for PeerCodec {
    type Item = Event;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Event>, std::io::Error> {
        let mut c = Cursor { buf: src, pos: 0 };
        let event = match self.proto {
            Proto::Redis => resp(&mut c),
            Proto::Nats => nats(&mut c),
        }
        .map_err(std::io::Error::other)?;
        if event.is_some() {
            let used = c.pos;
            src.advance(used);
        }
        Ok(event)
    }
}

impl Encoder<Bytes> for PeerCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        dst.extend_from_slice(&item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(proto: Proto, mut bytes: &[u8]) -> Vec<Event> {
        // Fed one byte at a time: every partial prefix must ask for more.
        let (mut codec, mut buf, mut out) = (PeerCodec { proto }, BytesMut::new(), Vec::new());
        while let Some((&b, rest)) = bytes.split_first() {
            buf.extend_from_slice(&[b]);
            bytes = rest;
            while let Some(e) = codec.decode(&mut buf).unwrap() {
                out.push(e);
            }
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        out
    }

    #[test]
    fn redis_replies_become_events() {
        let wire = b"*3\r\n$9\r\nsubscribe\r\n$5\r\nbench\r\n:1\r\n\
            *3\r\n$7\r\nmessage\r\n$5\r\nbench\r\n$3\r\nnnn\r\n+PONG\r\n:100\r\n";
        assert_eq!(
            events(Proto::Redis, wire),
            [Event::Ready, Event::Delivery(3), Event::Ready, Event::Ack]
        );
        let mut buf = BytesMut::from(&b"-ERR nope\r\n"[..]);
        assert!(PeerCodec {
            proto: Proto::Redis
        }
        .decode(&mut buf)
        .is_err());
    }

    #[test]
    fn nats_messages_become_events() {
        let wire = b"INFO {\"x\":1}\r\n+OK\r\nPONG\r\nMSG bench 1 4\r\nnnnn\r\n\
            MSG bench 1 _INBOX.x 0\r\n\r\nPING\r\n";
        assert_eq!(
            events(Proto::Nats, wire),
            [
                Event::Other,
                Event::Ack,
                Event::Ready,
                Event::Delivery(4),
                Event::Delivery(0),
                Event::Ping
            ]
        );
        let mut buf = BytesMut::from(&b"MSG bench 1 3\r\nnnnX\r\n"[..]);
        assert!(PeerCodec { proto: Proto::Nats }.decode(&mut buf).is_err());
    }

    #[test]
    fn publishes_are_the_documented_commands() {
        assert_eq!(
            &Proto::Redis.publish(b"ab")[..],
            b"*3\r\n$7\r\nPUBLISH\r\n$5\r\nbench\r\n$2\r\nab\r\n"
        );
        assert_eq!(&Proto::Nats.publish(b"ab")[..], b"PUB bench 2\r\nab\r\n");
    }
}
