//! The well-behaved client that hostile-input tests keep beside an attack.

use framewire::{Message, MessageType, PluginStack, Profile};

use super::{call, conn_id, connect_profile, recv, Conn, Running};

/// A subscriber that must keep working while another peer misbehaves:
/// every [`check`](Bystander::check) publishes a numbered notification that
/// must be the next thing it receives, then pings and must be answered.
/// Works with any framewire server (subscribed through the handle; the
/// ping is answered before routing), signed or not.
pub struct Bystander {
    conn: Conn,
    stack: Option<PluginStack>,
    sent: u32,
}

impl Bystander {
    pub const TOPIC: &'static str = "bystander";

    /// Connects and subscribes to [`Bystander::TOPIC`] through the handle.
    pub async fn join(srv: &Running) -> Bystander {
        Self::join_with(srv, Profile::Netaio, None).await
    }

    /// Like [`join`](Self::join) for a server on `profile`, with plugins:
    /// `stack` signs what the bystander sends and verifies what it gets.
    pub async fn join_with(
        srv: &Running,
        profile: Profile,
        stack: Option<PluginStack>,
    ) -> Bystander {
        let conn = connect_profile(srv.addr, profile).await;
        let id = conn_id(srv, conn.get_ref().local_addr().unwrap()).await;
        srv.handle.subscribe(Self::TOPIC, id).unwrap();
        Bystander {
            conn,
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
        let reply = call(&mut self.conn, msg).await;
        self.open(reply)
    }

    fn open(&self, msg: Message) -> Message {
        match &self.stack {
            Some(s) => s.open(msg).expect("what the bystander gets verifies"),
            None => msg,
        }
    }

    /// Still connected, nothing lost or reordered, still answered.
    pub async fn check(&mut self, srv: &Running) {
        let n = self.sent;
        self.sent += 1;
        let note = Message::new(
            MessageType::NOTIFY_URI,
            Self::TOPIC,
            n.to_be_bytes().to_vec(),
        );
        assert!(
            srv.handle.notify(Self::TOPIC, note).unwrap() >= 1,
            "bystander still subscribed"
        );
        let got = recv(&mut self.conn).await;
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
