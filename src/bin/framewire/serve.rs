//! `framewire serve`: netaio's readme route contract on a TCP port.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use framewire::auth::{MemoryUsers, UserHmac};
use framewire::server::{readme_routes, readme_routes_with, History, Limits, Server, ServerHandle};
use framewire::{PluginLayer, Profile};

use crate::args::ClusterArgs;
use crate::auth::{Auth, AuthArgs};
use crate::shutdown_signal;
use crate::tls::ServeTlsArgs;

/// What `serve` is told besides where to listen and how to authenticate.
pub struct Options<'a> {
    pub users: Option<&'a Path>,
    pub profile: Profile,
    pub limits: Limits,
    pub tls: &'a ServeTlsArgs,
    pub cluster: &'a ClusterArgs,
    pub metrics: Option<SocketAddr>,
}

pub async fn serve(
    addr: SocketAddr,
    auth: &AuthArgs,
    options: Options<'_>,
) -> Result<ExitCode, String> {
    let Options {
        users,
        profile,
        limits,
        tls,
        cluster,
        metrics,
    } = options;
    raise_open_file_limit();
    // Installed before the server is built, so every metric reaches it.
    let exporter = match metrics {
        Some(addr) => Some(crate::metrics::Exporter::bind(addr).await?),
        None => None,
    };
    let auth = auth.resolve()?;
    if auth.as_ref().is_some_and(Auth::is_user) {
        return Err("--user is for client commands; a server takes --users FILE".into());
    }
    let users = users
        .map(MemoryUsers::from_toml_file)
        .transpose()
        .map_err(|e| e.to_string())?;
    let tls_config = tls.config()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let backplane = crate::backplane::from_args(cluster)?;
    // With a backplane the key-value store is shared through the same
    // Redis: what one instance stores, every other one reads.
    let routes = match &backplane {
        Some(b) => readme_routes_with(Server::builder(), b.store()),
        None => readme_routes(Server::builder()),
    };
    let mut builder = routes
        .profile(profile)
        .limits(limits)
        // No recorder, no timing: two clock reads per request saved.
        .handler_timing(exporter.is_some());
    if let Some(auth) = &auth {
        builder = builder.plugins(auth.layer());
    }
    if let Some(users) = users {
        builder = builder.plugins(PluginLayer::new().with_auth(UserHmac::server(users)));
    }
    if let Some(config) = tls_config {
        builder = builder
            .tls(config)
            .client_certificate_name(tls.tls_client_name);
    }
    if let Some(backplane) = backplane {
        builder = builder.backplane(backplane);
        if let Some(name) = &cluster.instance_id {
            builder = builder.instance_id(name.clone());
        }
    }
    if cluster.history > 0 {
        builder = builder.history(History::default().per_topic(cluster.history));
    }
    if cluster.peers {
        let me = framewire::peer::LocalPeer::random()
            .with_app_id(cluster.app_id.clone().into_bytes())
            .with_fields([("name", cluster.peer_name.as_str())]);
        builder = builder.peers(me);
    }
    let server = builder.build();
    if tls.tls_cert.is_some() {
        tokio::spawn(reload_on_sighup(server.handle(), tls.clone()));
    }
    announce(local)?;
    if let Some(exporter) = exporter {
        let at = exporter.local_addr()?;
        tokio::spawn(exporter.run());
        let mut out = std::io::stdout().lock();
        writeln!(out, "metrics on {at}")
            .and_then(|_| out.flush())
            .map_err(|e| e.to_string())?;
    }
    server
        .serve(listener, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// Re-reads the certificate files on each SIGHUP; a reload that fails
/// keeps the old configuration and says why.
async fn reload_on_sighup(handle: ServerHandle, tls: ServeTlsArgs) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            match tls.config() {
                Ok(Some(config)) => match handle.reload_tls(config) {
                    Ok(()) => tracing::info!("TLS certificate reloaded"),
                    Err(e) => tracing::error!(error = %e, "TLS reload failed"),
                },
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "TLS reload failed; keeping the old certificate")
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (handle, tls);
}

/// Raises the soft limit on open files to the hard limit: the usual soft
/// 1 024 would otherwise cap the server far below
/// `--max-connections`, and every descriptor the metrics port or a burst
/// of connections takes is one the framewire port lacks. Best effort: a
/// limit that cannot be raised is left as it is (and said at debug level).
fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let now = getrlimit(Resource::Nofile);
        // No hard limit: as high as Linux allows by default (fs.nr_open).
        let target = now.maximum.unwrap_or(1 << 20);
        match now.current {
            None => {}
            Some(soft) if soft >= target => {}
            Some(soft) => {
                let raised = Rlimit {
                    current: Some(target),
                    maximum: now.maximum,
                };
                match setrlimit(Resource::Nofile, raised) {
                    Ok(()) => tracing::debug!(from = soft, to = target, "open file limit raised"),
                    Err(e) => tracing::debug!(soft, error = %e, "open file limit not raised"),
                }
            }
        }
    }
}

/// The first line on stdout, which scripts and tests wait for.
fn announce(local: SocketAddr) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {local}")
        .and_then(|_| out.flush())
        .map_err(|e| e.to_string())
}

/// `framewire bench-baseline --udp`: the bench's UDP baseline until a
/// signal (no auth, no TLS: `--scenario node` runs without them).
pub async fn baseline_udp(
    addr: SocketAddr,
    auth: &AuthArgs,
    tls: &ServeTlsArgs,
) -> Result<ExitCode, String> {
    if auth.resolve()?.is_some() || tls.config()?.is_some() {
        return Err("bench-baseline --udp takes no secret and no TLS".into());
    }
    let socket = tokio::net::UdpSocket::bind(addr)
        .await
        .map_err(|e| format!("cannot bind {addr}: {e}"))?;
    announce(socket.local_addr().map_err(|e| e.to_string())?)?;
    tokio::select! {
        _ = crate::baseline::serve_udp(socket) => {}
        _ = shutdown_signal() => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `framewire bench-baseline`: the bench's baseline server until a signal.
pub async fn baseline(
    addr: SocketAddr,
    auth: &AuthArgs,
    tls: &ServeTlsArgs,
) -> Result<ExitCode, String> {
    let auth = auth.resolve()?;
    let tls = tls.config()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    announce(listener.local_addr().map_err(|e| e.to_string())?)?;
    tokio::select! {
        _ = crate::baseline::serve(listener, auth.as_ref().map(|a| a.plugin()), tls) => {}
        _ = shutdown_signal() => {}
    }
    Ok(ExitCode::SUCCESS)
}
