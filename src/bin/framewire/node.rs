//! `framewire node`: netaio's readme route contract on a UDP port (a
//! netaio `UDPNode`), with optional peer management and multicast.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use framewire::node::{readme_routes, Node, NodeLimits};
use framewire::peer::LocalPeer;

use crate::auth::{Auth, AuthArgs};
use crate::shutdown_signal;

/// `framewire node` options.
#[derive(Args)]
pub struct NodeArgs {
    /// Address to bind (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8888")]
    pub bind: SocketAddr,
    /// Join this multicast group (netaio's default is 224.0.0.1), on PORT
    /// (default: the bound port, as netaio sends to its own port).
    #[arg(long, value_name = "GROUP[:PORT]")]
    pub multicast: Option<String>,
    /// Manage peers with this app id (netaio's manage_peers_automatically):
    /// advertise to the group and the seeds, answer advertisements, drop
    /// silent peers, say DISCONNECT on exit.
    #[arg(long, value_name = "ID")]
    pub app_id: Option<String>,
    /// The name in this node's peer data (a packify dict {'name': NAME}).
    #[arg(
        long,
        value_name = "NAME",
        default_value = "framewire",
        requires = "app_id"
    )]
    pub peer_name: String,
    /// Also advertise to this address (unicast; repeatable).
    #[arg(long, value_name = "HOST:PORT", requires = "app_id")]
    pub seed: Vec<SocketAddr>,
    /// Seconds between advertisements (netaio: 20).
    #[arg(long, value_name = "SECONDS", default_value_t = 20.0)]
    pub advertise_every: f64,
    /// Peers silent for longer are dropped (netaio: 60).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub peer_timeout: f64,
    #[command(flatten)]
    pub auth: AuthArgs,
}

fn seconds(name: &str, s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|_| format!("--{name} {s}: not a number of seconds"))
}

/// `GROUP` or `GROUP:PORT`.
fn group(text: &str) -> Result<(Ipv4Addr, Option<u16>), String> {
    let bad = || format!("--multicast {text}: expected GROUP or GROUP:PORT (IPv4 multicast)");
    let (ip, port) = match text.split_once(':') {
        Some((ip, port)) => (ip, Some(port.parse::<u16>().map_err(|_| bad())?)),
        None => (text, None),
    };
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    if !ip.is_multicast() {
        return Err(bad());
    }
    Ok((ip, port))
}

pub async fn node(args: NodeArgs) -> Result<ExitCode, String> {
    let auth = args.auth.resolve()?;
    if auth.as_ref().is_some_and(Auth::is_user) {
        return Err("--user is for client commands".into());
    }
    let limits = NodeLimits::default()
        .advertise_every(seconds("advertise-every", args.advertise_every)?)
        .peer_timeout(seconds("peer-timeout", args.peer_timeout)?);
    let mut builder = readme_routes(Node::builder()).limits(limits);
    if let Some(auth) = &auth {
        builder = builder.plugins(auth.layer());
    }
    if let Some(text) = &args.multicast {
        let (ip, port) = group(text)?;
        builder = builder.multicast(ip, port);
    }
    if let Some(app_id) = &args.app_id {
        let me = LocalPeer::random()
            .with_app_id(app_id.clone().into_bytes())
            .with_fields([("name", args.peer_name.as_str())]);
        builder = builder.peers(me);
        for seed in &args.seed {
            builder = builder.seed(*seed);
        }
    }
    let node = builder
        .bind(args.bind)
        .await
        .map_err(|e| format!("cannot bind {}: {e}", args.bind))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {} (udp)", node.local_addr())
            .and_then(|_| out.flush())
            .map_err(|e| e.to_string())?;
    }
    shutdown_signal().await;
    node.stop().await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::group;

    #[test]
    fn multicast_groups_parse_with_or_without_a_port() {
        assert_eq!(group("224.0.0.1"), Ok(("224.0.0.1".parse().unwrap(), None)));
        assert_eq!(
            group("239.1.2.3:9000"),
            Ok(("239.1.2.3".parse().unwrap(), Some(9000)))
        );
        assert!(group("10.0.0.1").is_err(), "not multicast");
        assert!(group("224.0.0.1:x").is_err());
    }
}
