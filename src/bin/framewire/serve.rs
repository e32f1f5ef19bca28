//! `framewire serve`: netaio's readme route contract on a TCP port.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use framewire::server::{readme_routes, Limits, Server};
use framewire::Profile;

use crate::auth::AuthArgs;
use crate::shutdown_signal;

pub async fn serve(
    addr: SocketAddr,
    auth: &AuthArgs,
    profile: Profile,
    limits: Limits,
) -> Result<ExitCode, String> {
    let auth = auth.resolve()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let mut builder = readme_routes(Server::builder())
        .profile(profile)
        .limits(limits);
    if let Some(auth) = &auth {
        builder = builder.plugins(auth.layer());
    }
    let server = builder.build();
    announce(local)?;
    server
        .serve(listener, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// The first line on stdout, which scripts and tests wait for.
fn announce(local: SocketAddr) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {local}")
        .and_then(|_| out.flush())
        .map_err(|e| e.to_string())
}

/// `framewire bench-baseline`: the bench's baseline server until a signal.
pub async fn baseline(addr: SocketAddr, auth: &AuthArgs) -> Result<ExitCode, String> {
    let auth = auth.resolve()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    announce(listener.local_addr().map_err(|e| e.to_string())?)?;
    tokio::select! {
        _ = crate::baseline::serve(listener, auth.as_ref().map(|a| a.plugin())) => {}
        _ = shutdown_signal() => {}
    }
    Ok(ExitCode::SUCCESS)
}
