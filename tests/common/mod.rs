//! Helpers shared by the server and client tests: loopback only, every wait
//! bounded.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use framewire::server::{Server, ServerHandle};
use framewire::{FrameCodec, Message, Profile};
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;

pub const LIMIT: Duration = Duration::from_secs(10);

pub type Conn = Framed<TcpStream, FrameCodec>;

pub struct Running {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub task: JoinHandle<std::io::Result<()>>,
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

pub async fn start(server: Server) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = server.handle();
    let task = tokio::spawn(server.serve(listener, std::future::pending()));
    Running { addr, handle, task }
}

pub async fn connect(addr: SocketAddr) -> Conn {
    connect_profile(addr, Profile::Netaio).await
}

pub async fn connect_profile(addr: SocketAddr, profile: Profile) -> Conn {
    let stream = tokio::time::timeout(LIMIT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    Framed::new(stream, FrameCodec::new(profile))
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

/// `m` without its auth fields, to compare opened messages by content.
pub fn plain(m: Message) -> Message {
    m.with_auth(framewire::AuthFields::new())
}

/// The Python interpreter with netaio 0.0.9 installed: `FRAMEWIRE_PYTHON`,
/// else `.venv/bin/python` in the crate. `None` (after a notice) when there
/// is none outside CI; under `CI` a missing interpreter fails the test.
pub fn netaio_python() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("FRAMEWIRE_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
        });
    let ok = std::process::Command::new(&path)
        .args(["-c", "import netaio"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(path);
    }
    let msg = format!(
        "no Python with netaio 0.0.9 at {} (set FRAMEWIRE_PYTHON or run: python3 -m venv .venv && .venv/bin/pip install netaio==0.0.9)",
        path.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    eprintln!("skipping interop test: {msg}");
    None
}

/// Runs `cmd` to completion, killing it after `limit`; returns (status
/// success, stdout, stderr).
pub fn run_bounded(mut cmd: std::process::Command, limit: Duration) -> (bool, String, String) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    (status.is_some_and(|s| s.success()), out, err)
}

/// A child process killed when dropped, so a failing test leaves nothing
/// running.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program args...` and waits for its `listening on ADDR` line.
pub fn spawn_listening(mut cmd: std::process::Command) -> (KillOnDrop, String) {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn server process");
    let stdout = child.stdout.take().expect("stdout");
    let guard = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server printed its address within 30 s");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (guard, addr)
}

/// A real netaio 0.0.9 server with the `framewire serve` route contract.
pub fn netaio_server(python: &std::path::Path, secret: Option<&str>) -> (KillOnDrop, String) {
    let mut cmd = std::process::Command::new(python);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/netaio_server.py"
    ))
    .args(["127.0.0.1", "0"]);
    if let Some(s) = secret {
        cmd.args(["--secret", s]);
    }
    spawn_listening(cmd)
}

/// The server's id for the connection whose client end is `local`, once
/// it is registered.
pub async fn conn_id(srv: &Running, local: SocketAddr) -> framewire::server::ConnectionId {
    let mut id = None;
    eventually("connection registered", || {
        id = srv
            .handle
            .connections()
            .into_iter()
            .find(|c| c.peer == local)
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

/// A well-behaved subscriber that hostile-input tests keep beside the
/// attack: every [`check`](Bystander::check) publishes a numbered
/// notification that must be the next thing it receives, then pings.
/// Works with any framewire server (the ping is answered before routing).
pub struct Bystander {
    conn: Conn,
    sent: u32,
}

impl Bystander {
    pub const TOPIC: &'static str = "bystander";

    /// Connects and subscribes to [`Bystander::TOPIC`] via the handle.
    pub async fn join(srv: &Running) -> Bystander {
        let conn = connect(srv.addr).await;
        let id = conn_id(srv, conn.get_ref().local_addr().unwrap()).await;
        srv.handle.subscribe(Self::TOPIC, id).unwrap();
        Bystander { conn, sent: 0 }
    }

    /// Still connected, nothing lost or reordered, still answered.
    pub async fn check(&mut self, srv: &Running) {
        use framewire::MessageType;
        let n = self.sent;
        self.sent += 1;
        let note = Message::new(
            MessageType::NOTIFY_URI,
            Self::TOPIC,
            n.to_be_bytes().to_vec(),
        );
        assert!(
            srv.handle.notify(Self::TOPIC, note).unwrap() >= 1,
            "bystander subscribed"
        );
        let got = recv(&mut self.conn).await;
        assert_eq!(
            got.content()[..],
            n.to_be_bytes(),
            "bystander: nothing lost, in order"
        );
        let ping = Message::new(MessageType::REQUEST_URI, framewire::client::PING_URI, "");
        let pong = call(&mut self.conn, ping).await;
        assert_eq!(pong.message_type, MessageType::RESPOND_URI);
    }
}
