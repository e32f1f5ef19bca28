//! The client commands: `request`, `publish`, `subscribe`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use framewire::client::{Client, ClientError, Reconnect};
use framewire::{Message, MessageType};

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
        .reconnect(reconnect);
    if let Some(auth) = conn.auth.resolve()? {
        builder = builder.plugins(auth.layer());
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
                    ClientError::AuthRejected {
                        verified: false,
                        ..
                    }
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

pub async fn request(
    conn: ConnArgs,
    message_type: MessageType,
    uri: String,
    content: Bytes,
    json: bool,
) -> Result<ExitCode, String> {
    let client = connect(&conn).await?;
    let result = client.call(Message::new(message_type, uri, content)).await;
    client.close().await;
    if matches!(result, Err(ClientError::ConnectionLost)) && !conn.tls.enabled() {
        return Err(
            "connection lost before the reply (if the server serves TLS, \
                    connect with --tls-ca or --tls)"
                .into(),
        );
    }
    report(result, json)
}

pub async fn subscribe(
    conn: ConnArgs,
    topic: String,
    count: Option<u64>,
    json: bool,
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
    let mut sub = match client.subscribe(topic).await {
        Ok(s) => s,
        Err(e) => return report(Err(e), json),
    };
    let mut seen = 0u64;
    while count.is_none_or(|n| seen < n) {
        tokio::select! {
            note = sub.next() => match note {
                Some(note) => {
                    output::print(&note, json).map_err(|e| e.to_string())?;
                    seen += 1;
                }
                None => return Err("connection lost".into()),
            },
            _ = shutdown_signal() => break,
        }
    }
    drop(sub);
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
            Err(ClientError::NotFound(_)) if !echo => {
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
