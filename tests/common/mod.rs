//! Helpers shared by the integration tests, one home each: servers and
//! framed connections here; hex, golden vectors, raw frames, the
//! bystander and child processes in the submodules. Loopback only, every
//! wait bounded.
#![allow(dead_code, unused_imports)]

pub mod bystander;
pub mod cluster;
pub mod hex;
pub mod netns;
pub mod process;
pub mod raw;
pub mod redis;
#[cfg(feature = "tls")]
pub mod tls;
pub mod udp;
pub mod vectors;

use std::net::SocketAddr;
use std::time::Duration;

use framewire::server::{Server, ServerHandle};
use framewire::{FrameCodec, Message, Profile};
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;

pub use bystander::Bystander;
pub use hex::{hex, unhex};
pub use process::{
    exit_status, kill_group, lines_of, netaio_asymmetric_python, netaio_python, netaio_server,
    netaio_server_with, output_within, own_group, read_line_within, run_bounded, run_raw,
    run_with_input, spawn_listening, terminate, KillOnDrop,
};
pub use raw::{
    frames, netaio_header, raw, read_all, read_to_close, read_to_close_within, wide_header,
};

/// A client's and a server's view of a message with no connection, for
/// plugins called by hand: a client signs, a server checks.
pub const CLIENT: framewire::auth::Link<'static> =
    framewire::auth::Link::new(framewire::auth::Role::Client);
pub const SERVER: framewire::auth::Link<'static> =
    framewire::auth::Link::new(framewire::auth::Role::Server);

/// The longest any single wait in a test may take.
pub const LIMIT: Duration = Duration::from_secs(10);

pub type Conn = Framed<TcpStream, FrameCodec>;

pub struct Running {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// A server a test talks to: on loopback TCP ([`Running`]) or in memory
/// (`framewire::testing::TestServer`).
pub trait Serves {
    fn handle(&self) -> &ServerHandle;
}

impl Serves for Running {
    fn handle(&self) -> &ServerHandle {
        &self.handle
    }
}

impl Serves for framewire::testing::TestServer {
    fn handle(&self) -> &ServerHandle {
        framewire::testing::TestServer::handle(self)
    }
}

impl Running {
    /// Starts a graceful shutdown and waits for `serve` to return.
    pub async fn stop(self) {
        self.handle.shutdown();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("server stopped in time")
            .expect("server task")
            .expect("serve result");
    }
}

/// Serves `server` on a fresh loopback port.
pub async fn start(server: Server) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = server.handle();
    let task = tokio::spawn(server.serve(listener, std::future::pending()));
    Running { addr, handle, task }
}

/// A loopback port this test holds bound but never listens on: every
/// connection to it is refused (RST) for as long as it lives, and no other
/// test can be given the port meanwhile (no `SO_REUSEADDR`). Unlike a
/// port bound and freed, it cannot come back to life.
pub struct DeadPort {
    pub addr: SocketAddr,
    _socket: tokio::net::TcpSocket,
}

impl DeadPort {
    pub fn new() -> DeadPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().unwrap())
            .expect("bind a loopback port");
        DeadPort {
            addr: socket.local_addr().unwrap(),
            _socket: socket,
        }
    }
}

/// Dials loopback TCP by name: a client built with
/// `Client::builder(["a", "b"]).connector(board.clone())` reaches
/// whatever address `a` points at now and is refused (as by a closed
/// port) while `a` points nowhere. A restarted server gets a fresh port
/// (`127.0.0.1:0`) and the board is pointed at it, so no test binds a
/// port it freed, which another test may have been given meanwhile.
#[derive(Clone, Default)]
pub struct Switchboard(std::sync::Arc<std::sync::Mutex<Board>>);

#[derive(Default)]
pub struct Board {
    routes: std::collections::HashMap<String, SocketAddr>,
    attempts: std::collections::HashMap<String, u64>,
}

impl Switchboard {
    pub fn new() -> Switchboard {
        Switchboard::default()
    }

    /// `name` dials `addr` from now on.
    pub fn set(&self, name: &str, addr: SocketAddr) {
        self.0.lock().unwrap().routes.insert(name.to_owned(), addr);
    }

    /// `name` is refused from now on.
    pub fn unset(&self, name: &str) {
        self.0.lock().unwrap().routes.remove(name);
    }

    /// How many times a client has dialled `name`.
    pub fn attempts(&self, name: &str) -> u64 {
        let board = self.0.lock().unwrap();
        board.attempts.get(name).copied().unwrap_or(0)
    }
}

impl framewire::transport::Connector for Switchboard {
    fn connect(
        &self,
        name: &str,
    ) -> framewire::handler::BoxFuture<std::io::Result<framewire::transport::Stream>> {
        let to = {
            let mut board = self.0.lock().unwrap();
            *board.attempts.entry(name.to_owned()).or_default() += 1;
            board.routes.get(name).copied()
        };
        let name = name.to_owned();
        Box::pin(async move {
            let Some(to) = to else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    format!("{name}: nothing serves it now"),
                ));
            };
            framewire::transport::Stream::tcp(TcpStream::connect(to).await?)
        })
    }
}

pub async fn connect(addr: SocketAddr) -> Conn {
    connect_profile(addr, Profile::Netaio).await
}

pub async fn connect_profile(addr: SocketAddr, profile: Profile) -> Conn {
    Framed::new(raw::raw(addr).await, FrameCodec::new(profile))
}

pub async fn send(conn: &mut Conn, msg: Message) {
    tokio::time::timeout(LIMIT, conn.send(msg))
        .await
        .expect("send in time")
        .expect("send");
}

/// The next message, which must arrive within [`LIMIT`] and decode.
pub async fn recv(conn: &mut Conn) -> Message {
    tokio::time::timeout(LIMIT, conn.next())
        .await
        .expect("a frame in time")
        .expect("stream open")
        .expect("no stream error")
        .expect("valid checksum")
}

/// Sends `msg` and returns the reply.
pub async fn call(conn: &mut Conn, msg: Message) -> Message {
    send(conn, msg).await;
    recv(conn).await
}

/// Waits for the server to close the connection; returns the messages that
/// came before the close.
pub async fn until_closed(conn: &mut Conn) -> Vec<Message> {
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(LIMIT, conn.next())
            .await
            .expect("close in time")
        {
            None | Some(Err(_)) => return got,
            Some(Ok(Ok(m))) => got.push(m),
            Some(Ok(Err(e))) => panic!("checksum error from server: {e}"),
        }
    }
}

/// `fut`'s output, which must come within [`LIMIT`]: a fake server's
/// accept or read, a join of a test's own task.
pub async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {LIMIT:?}"))
}

/// Polls `cond` every 10 ms until it holds, failing after [`LIMIT`].
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends `msg` sealed by `stack` and returns the reply opened by it (the
/// reply must verify).
pub async fn call_sealed(conn: &mut Conn, stack: &framewire::PluginStack, msg: Message) -> Message {
    let reply = call(conn, stack.seal(msg).expect("seal")).await;
    stack.open(reply).expect("the reply verifies")
}

/// `m` without its auth fields, to compare opened messages by content.
pub fn plain(m: Message) -> Message {
    m.with_auth(framewire::AuthFields::new())
}

/// The server's id for the connection whose client end is `local`, once
/// it is registered.
pub async fn conn_id(srv: &Running, local: SocketAddr) -> framewire::server::ConnectionId {
    conn_id_on(&srv.handle, local).await
}

/// The id `handle`'s server gave the connection from `peer`, once it is
/// registered.
pub async fn conn_id_on(
    handle: &ServerHandle,
    peer: SocketAddr,
) -> framewire::server::ConnectionId {
    let mut id = None;
    eventually("connection registered", || {
        id = handle
            .connections()
            .into_iter()
            .find(|c| c.peer == peer)
            .map(|c| c.id);
        id.is_some()
    })
    .await;
    id.unwrap()
}

/// Spawns a reader that reports the sequence number (the first 4 content
/// bytes, big-endian) of every notification `conn` receives.
pub fn count_notes(mut conn: Conn, tx: tokio::sync::mpsc::UnboundedSender<u32>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(Ok(Ok(m))) = conn.next().await {
            let n = u32::from_be_bytes(m.content()[..4].try_into().unwrap());
            if tx.send(n).is_err() {
                return;
            }
        }
    })
}

/// Resident memory of this process in bytes (Linux `/proc`), for tests
/// that bound what a workload holds.
#[allow(dead_code)]
pub fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    statm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 4096
}

/// Waits (bounded by [`LIMIT`]) for the client's next `Connected` event.
pub async fn reconnected(
    events: &mut tokio::sync::broadcast::Receiver<framewire::client::ConnectionEvent>,
) {
    use framewire::client::ConnectionEvent;
    tokio::time::timeout(LIMIT, async {
        while !matches!(events.recv().await, Ok(ConnectionEvent::Connected(_))) {}
    })
    .await
    .expect("reconnected in time");
}
