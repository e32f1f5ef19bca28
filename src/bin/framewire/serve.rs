//! `framewire serve`: netaio's readme route contract on a TCP port.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use framewire::server::{readme_routes, Server};
use framewire::Profile;

use crate::auth::AuthArgs;
use crate::shutdown_signal;

pub async fn serve(
    addr: SocketAddr,
    auth: &AuthArgs,
    profile: Profile,
) -> Result<ExitCode, String> {
    let auth = auth.resolve()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let mut builder = readme_routes(Server::builder()).profile(profile);
    if let Some(auth) = &auth {
        builder = builder.plugins(auth.layer());
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
