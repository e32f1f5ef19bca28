//! `serve --backplane`: the Redis url (argv, a file or the environment),
//! the cluster key (a file or the environment) and the policy when there
//! is none.
//!
//! Without a key, anyone who can PUBLISH on the channel makes every
//! instance send its clients whatever they like as genuine server frames,
//! so `serve` refuses to start a backplane without one unless told
//! `--backplane-insecure` (a fail-open default is the kind of thing that
//! ships to production unnoticed; a warning on stderr is not read by a
//! service manager).

use std::path::Path;

use framewire::server::RedisBackplane;
use zeroize::Zeroizing;

use crate::args::ClusterArgs;

/// The environment variable that may hold the cluster key itself.
pub const SECRET_ENV: &str = "FRAMEWIRE_BACKPLANE_SECRET";

/// The backplane `cluster` asks for, if any.
pub fn from_args(cluster: &ClusterArgs) -> Result<Option<RedisBackplane>, String> {
    let url = match (&cluster.backplane_url_file, &cluster.backplane) {
        (Some(path), _) => read_url(path)?,
        (None, Some(url)) => Zeroizing::new(url.clone()),
        (None, None) => return Ok(None),
    };
    // The error message shows the url without its password.
    let mut backplane = RedisBackplane::new(&url)
        .map_err(|e| format!("--backplane: {e}"))?
        .channel(cluster.backplane_channel.clone());
    if cluster.backplane_stream > 0 {
        backplane = backplane.stream(cluster.backplane_stream);
    }
    if let Some(path) = &cluster.backplane_ca {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read --backplane-ca {}: {e}", path.display()))?;
        backplane = backplane
            .tls_root_ca(pem)
            .map_err(|e| format!("--backplane-ca {}: {e}", path.display()))?;
    }
    match secret(cluster)? {
        Some(key) => Ok(Some(
            backplane
                .secret(&key[..])
                .map_err(|e| format!("backplane cluster key: {e}"))?,
        )),
        // With a key in the environment, --backplane-insecure only
        // permitted its absence.
        None if cluster.backplane_insecure => {
            eprintln!(
                "framewire: WARNING: backplane without a cluster key (--backplane-insecure): \
                 anyone who can PUBLISH on Redis channel {:?} can make this server send its \
                 clients forged messages",
                cluster.backplane_channel
            );
            Ok(Some(backplane))
        }
        None => Err(format!(
            "--backplane needs a cluster key (--backplane-secret-file PATH or {SECRET_ENV}), \
             or --backplane-insecure to relay unauthenticated messages"
        )),
    }
}

fn read_url(path: &Path) -> Result<Zeroizing<String>, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --backplane-url-file {}: {e}", path.display()))?,
    );
    let url = text.trim();
    if url.is_empty() {
        return Err(format!("--backplane-url-file {} is empty", path.display()));
    }
    Ok(Zeroizing::new(url.to_owned()))
}

/// The cluster key from `--backplane-secret-file` or the environment.
fn secret(cluster: &ClusterArgs) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
    if let Some(path) = &cluster.backplane_secret_file {
        let mut bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
            format!(
                "cannot read --backplane-secret-file {}: {e}",
                path.display()
            )
        })?);
        if bytes.ends_with(b"\n") {
            bytes.pop();
            if bytes.ends_with(b"\r") {
                bytes.pop();
            }
        }
        return Ok(Some(bytes));
    }
    use std::os::unix::ffi::OsStringExt;
    Ok(std::env::var_os(SECRET_ENV)
        .filter(|v| !v.is_empty())
        .map(|v| Zeroizing::new(v.into_vec())))
}
