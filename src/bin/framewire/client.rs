//! The client commands: `request`, `publish`, `subscribe`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use framewire::client::{Client, ClientError, Reconnect};
use framewire::{Message, MessageType, ReplyError};

use crate::args::ConnArgs;
use crate::{output, shutdown_signal};

async fn connect(conn: &ConnArgs) -> Result<Client, String> {
    connect_with(conn, Reconnect::disabled()).await
}

async fn connect_with(conn: &ConnArgs, reconnect: Reconnect) -> Result<Client, String> {
    if !(conn.timeout.is_finite() && conn.timeout > 0.0) {
        return Err(format!("invalid --timeout {}", conn.timeout));
    }
    let timeout = Duration::from_secs_f64(conn.timeout);
    let servers: Vec<&str> = conn.addr.split(',').map(str::trim).collect();
    let mut builder = Client::builder(servers)
        .profile(conn.profile)
        .request_timeout(timeout)
        .connect_timeout(timeout)
        // The command's own request finds a wrong secret and reports the
        // server's AUTH_ERROR with a hint (exit status 1), as before.
        .check_credentials(false)
        .reconnect(reconnect);
    if let Some(auth) = conn.auth.resolve()? {
        builder = builder.plugins(auth.layer());
    }
    if let Some(app_id) = &conn.app_id {
        let me = framewire::peer::LocalPeer::random()
            .with_app_id(app_id.clone().into_bytes())
            .with_fields([("name", "framewire-cli")]);
        builder = builder.peer(me);
    }
    builder = conn
        .tls
        .apply(builder, conn.addr.split(',').next().unwrap_or_default())?;
    builder.connect().await.map_err(|e| connect_error(conn, &e))
}

/// One line naming what failed: the TLS reason when TLS failed.
fn connect_error(conn: &ConnArgs, e: &ClientError) -> String {
    if let Some(why) = crate::tls::describe(e) {
        return format!("cannot connect to {}: {why}", conn.addr);
    }
    let stalled = matches!(e, ClientError::Connect { source, .. }
        if matches!(source.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::UnexpectedEof));
    if conn.tls.enabled() && stalled {
        return format!(
            "cannot connect to {}: TLS: the handshake did not finish (is the server serving TLS on this port?)",
            conn.addr
        );
    }
    e.to_string()
}

/// Prints a reply and picks the exit status.
fn report(result: Result<Message, ClientError>, json: bool) -> Result<ExitCode, String> {
    match result {
        Ok(reply) => {
            output::print(&reply, json).map_err(|e| e.to_string())?;
            Ok(if output::is_success(reply.message_type) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(e) => match e.reply() {
            Some(reply) => {
                if json {
                    output::print(reply, true).map_err(|e| e.to_string())?;
                }
                let unverified = matches!(
                    e,
                    ClientError::Reply(ReplyError::AuthRejected {
                        verified: false,
                        ..
                    })
                );
                eprintln!(
                    "framewire: {}{}: {}",
                    reply.message_type,
                    if unverified {
                        " (unverified: the reply failed our auth check; check the secret)"
                    } else {
                        ""
                    },
                    String::from_utf8_lossy(reply.content())
                );
                Ok(ExitCode::from(1))
            }
            None => Err(e.to_string()),
        },
    }
}

/// Reads all of stdin, bytes as they are.
pub fn stdin() -> Result<Bytes, String> {
    let mut buf = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    Ok(Bytes::from(buf))
}

/// Stdin split into lines (without `\n` or `\r\n`; a last line without a
/// newline counts too).
pub fn stdin_lines() -> Result<Vec<Bytes>, String> {
    let all = stdin()?;
    let mut lines: Vec<Bytes> = all
        .split(|&b| b == b'\n')
        .map(|l| Bytes::copy_from_slice(l.strip_suffix(b"\r").unwrap_or(l)))
        .collect();
    if all.ends_with(b"\n") {
        lines.pop();
    }
    Ok(lines)
}

/// Sends each of `contents` as `message_type` to `uri`, `count` times
/// over, `interval` seconds apart, printing one reply per line. Exit
/// status 0 when every reply was a success, 1 when one was an error reply.
pub async fn request(
    conn: ConnArgs,
    message_type: MessageType,
    uri: String,
    contents: Vec<Bytes>,
    count: u32,
    interval: f64,
    json: bool,
) -> Result<ExitCode, String> {
    if !(interval.is_finite() && interval >= 0.0) {
        return Err(format!("invalid --interval {interval}"));
    }
    let client = connect(&conn).await?;
    let mut status = ExitCode::SUCCESS;
    let mut first = true;
    for _ in 0..count.max(1) {
        for content in &contents {
            if !first && interval > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(interval)).await;
            }
            first = false;
            let msg = Message::new(message_type, uri.clone(), content.clone());
            let result = client.call(msg).await;
            if matches!(result, Err(ClientError::ConnectionLost)) && !conn.tls.enabled() {
                client.close().await;
                return Err(
                    "connection lost before the reply (if the server serves TLS, \
                            connect with --tls-ca or --tls)"
                        .into(),
                );
            }
            if report(result, json)? != ExitCode::SUCCESS {
                status = ExitCode::from(1);
            }
        }
    }
    client.close().await;
    Ok(status)
}

/// How `subscribe` prints what arrives.
pub struct Style {
    pub json: bool,
    pub raw: bool,
    pub timestamp: bool,
}

impl Style {
    fn print(&self, note: &Message) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        if self.raw {
            out.write_all(note.content())?;
            return out.flush();
        }
        if self.timestamp {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            write!(out, "{}.{:03} ", now.as_secs(), now.subsec_millis())?;
        }
        drop(out);
        output::print(note, self.json)
    }
}

pub async fn subscribe(
    conn: ConnArgs,
    topics: Vec<String>,
    count: Option<u64>,
    group: Option<String>,
    style: Style,
) -> Result<ExitCode, String> {
    // Notifications may be far apart: no timeout applies between them; the
    // client's keepalive watches the connection instead. Given several
    // instances, it fails over between them (and resubscribes) for as long
    // as it runs; given one, a lost connection ends it.
    let reconnect = if conn.addr.contains(',') {
        Reconnect::default()
    } else {
        Reconnect::disabled()
    };
    let client = connect_with(&conn, reconnect).await?;
    // One stream for every topic, in arrival order.
    let (tx, mut notes) = tokio::sync::mpsc::channel(1024);
    let mut forwarders = Vec::new();
    for topic in topics {
        let subscribed = match &group {
            Some(g) => client.subscribe_group(topic, g).await,
            None => client.subscribe(topic).await,
        };
        let mut sub = match subscribed {
            Ok(s) => s,
            Err(e) => return report(Err(e), style.json),
        };
        let tx = tx.clone();
        forwarders.push(tokio::spawn(async move {
            while let Some(note) = sub.next().await {
                if tx.send(note).await.is_err() {
                    return;
                }
            }
        }));
    }
    drop(tx);
    let mut seen = 0u64;
    while count.is_none_or(|n| seen < n) {
        tokio::select! {
            note = notes.recv() => match note {
                Some(note) => {
                    style.print(&note).map_err(|e| e.to_string())?;
                    seen += 1;
                }
                None => return Err("connection lost".into()),
            },
            _ = shutdown_signal() => break,
        }
    }
    for f in forwarders {
        f.abort();
    }
    client.close().await;
    Ok(ExitCode::SUCCESS)
}

/// `framewire ping`: `count` round trips, `interval` apart, then
/// min/avg/max/p99.
pub async fn ping(conn: ConnArgs, count: u32, interval: f64) -> Result<ExitCode, String> {
    if !(interval.is_finite() && interval >= 0.0) {
        return Err(format!("invalid --interval {interval}"));
    }
    let client = connect(&conn).await?;
    let mut echo = false;
    let mut rtts = Vec::new();
    let mut out = std::io::stdout().lock();
    for i in 0..count.max(1) {
        if i > 0 {
            tokio::time::sleep(Duration::from_secs_f64(interval)).await;
        }
        let result = if echo {
            let started = tokio::time::Instant::now();
            client
                .request("echo", "ping")
                .await
                .map(|_| started.elapsed())
        } else {
            client.ping().await
        };
        match result {
            Ok(rtt) => {
                rtts.push(rtt.as_secs_f64() * 1e3);
                let how = if echo { "echo" } else { "ping" };
                let _ = writeln!(
                    out,
                    "{how} from {}: time={:.3} ms",
                    conn.addr,
                    rtt.as_secs_f64() * 1e3
                );
            }
            Err(e) if e.is_not_found() && !echo => {
                let _ = writeln!(
                    out,
                    "{} has no framewire ping (a netaio server?): timing echo requests instead",
                    conn.addr
                );
                echo = true;
            }
            Err(e) => {
                let _ = writeln!(out, "no answer from {}: {e}", conn.addr);
            }
        }
    }
    client.close().await;
    let sent = count.max(1);
    if rtts.is_empty() {
        return Err(format!("{sent} sent, 0 answered"));
    }
    let mut sorted = rtts.clone();
    sorted.sort_by(f64::total_cmp);
    let pick = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    let avg = rtts.iter().sum::<f64>() / rtts.len() as f64;
    let _ = writeln!(
        out,
        "{sent} sent, {} answered; min/avg/max/p99 = {:.3}/{:.3}/{:.3}/{:.3} ms",
        rtts.len(),
        sorted[0],
        avg,
        sorted[sorted.len() - 1],
        pick(0.99)
    );
    Ok(ExitCode::SUCCESS)
}
