//! The well-behaved client that hostile-input tests keep beside an attack.

use framewire::testing::{TestPeer, TestServer};
use framewire::{Message, MessageType, PluginStack, Profile};

use super::{call, conn_id_on, connect_profile, recv, Conn, Serves};

/// The bystander's connection: loopback TCP or in memory
/// (`framewire::testing`).
enum Link {
    Tcp(Conn),
    Memory(TestPeer),
}

impl Link {
    async fn call(&mut self, msg: Message) -> Message {
        match self {
            Link::Tcp(c) => call(c, msg).await,
            Link::Memory(p) => p.call(msg).await.expect("bystander's reply"),
        }
    }

    async fn recv(&mut self) -> Message {
        match self {
            Link::Tcp(c) => recv(c).await,
            Link::Memory(p) => p.recv().await.expect("bystander's message"),
        }
    }
}

/// A subscriber that must keep working while another peer misbehaves:
/// every [`check`](Bystander::check) publishes a numbered notification that
/// must be the next thing it receives, then pings and must be answered.
/// Works with any framewire server (subscribed through the handle; the
/// ping is answered before routing), signed or not.
pub struct Bystander {
    conn: Link,
    stack: Option<PluginStack>,
    sent: u32,
}

impl Bystander {
    pub const TOPIC: &'static str = "bystander";

    /// Connects and subscribes to [`Bystander::TOPIC`] through the handle.
    pub async fn join(srv: &super::Running) -> Bystander {
        Self::join_with(srv, Profile::Netaio, None).await
    }

    /// Like [`join`](Self::join), in memory: a peer of `srv`, signing and
    /// verifying with `stack` if given.
    pub async fn join_memory(srv: &TestServer, stack: Option<PluginStack>) -> Bystander {
        let peer = srv.peer().expect("the bystander is let in");
        let id = conn_id_on(srv.handle(), peer.addr()).await;
        srv.handle().subscribe(Self::TOPIC, id).unwrap();
        Bystander {
            conn: Link::Memory(peer),
            stack,
            sent: 0,
        }
    }

    /// Like [`join`](Self::join) for a server on `profile`, with plugins:
    /// `stack` signs what the bystander sends and verifies what it gets.
    pub async fn join_with(
        srv: &super::Running,
        profile: Profile,
        stack: Option<PluginStack>,
    ) -> Bystander {
        let conn = connect_profile(srv.addr, profile).await;
        let id = conn_id_on(&srv.handle, conn.get_ref().local_addr().unwrap()).await;
        srv.handle.subscribe(Self::TOPIC, id).unwrap();
        Bystander {
            conn: Link::Tcp(conn),
            stack,
            sent: 0,
        }
    }

    /// Sends `msg` (sealed by the bystander's plugins) and returns the
    /// reply (opened by them, so it must verify).
    pub async fn call(&mut self, msg: Message) -> Message {
        let msg = match &self.stack {
            Some(s) => s.seal(msg).expect("bystander signs"),
            None => msg,
        };
        let reply = self.conn.call(msg).await;
        self.open(reply)
    }

    fn open(&self, msg: Message) -> Message {
        match &self.stack {
            Some(s) => s.open(msg).expect("what the bystander gets verifies"),
            None => msg,
        }
    }

    /// Still connected, nothing lost or reordered, still answered.
    pub async fn check(&mut self, srv: &impl Serves) {
        let n = self.sent;
        self.sent += 1;
        let note = Message::new(
            MessageType::NOTIFY_URI,
            Self::TOPIC,
            n.to_be_bytes().to_vec(),
        );
        assert!(
            srv.handle().notify(Self::TOPIC, note).unwrap() >= 1,
            "bystander still subscribed"
        );
        let got = self.conn.recv().await;
        let got = self.open(got);
        assert_eq!(
            got.content()[..],
            n.to_be_bytes(),
            "bystander: nothing lost, in order"
        );
        let ping = Message::new(MessageType::REQUEST_URI, framewire::protocol::PING_URI, "");
        let pong = self.call(ping).await;
        assert_eq!(pong.message_type, MessageType::RESPOND_URI);
    }
}
