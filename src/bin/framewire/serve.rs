//! `framewire serve`: netaio's readme route contract on a TCP port.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use framewire::server::{readme_routes, Server};
use framewire::{NetaioHmac, PluginLayer, Profile};

use crate::shutdown_signal;

pub async fn serve(
    addr: SocketAddr,
    secret: Option<String>,
    profile: Profile,
) -> Result<ExitCode, String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let mut builder = readme_routes(Server::builder()).profile(profile);
    if let Some(secret) = secret {
        builder = builder.plugins(PluginLayer::new().with_auth(NetaioHmac::new(secret)));
    }
    let server = builder.build();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {local}")
            .and_then(|_| out.flush())
            .map_err(|e| e.to_string())?;
    }
    server
        .serve(listener, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}
