//! What the Redis backplane and the Redis store share of a connection's
//! setup (feature `redis`): the url, the TLS roots, and an error that
//! never shows the password.

/// Why a Redis url could not be used (by
/// [`RedisBackplane`](crate::server::RedisBackplane) or
/// [`RedisStore`](crate::store::RedisStore)). Its message shows the url
/// without its user, password or query (where Redis passwords go).
///
/// ```
/// let e = framewire::server::RedisBackplane::new("not a url").unwrap_err();
/// assert!(e.to_string().contains("not a url"));
/// let e = framewire::server::RedisBackplane::new("redis://:hunter2@host:port").unwrap_err();
/// assert!(!e.to_string().contains("hunter2"));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("invalid Redis url {url:?}: {source}")]
pub struct RedisUrlError {
    /// The url with its credentials cut out.
    url: String,
    #[source]
    source: redis::RedisError,
}

/// `url` without what may hold a password: the user info before `@` and
/// anything from `?` on.
pub(crate) fn redact(url: &str) -> String {
    let Some(at) = url.find("://") else {
        return if url.contains(['@', '?', ':']) {
            "<not shown>".to_owned()
        } else {
            url.to_owned()
        };
    };
    let (scheme, rest) = url.split_at(at + 3);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host = match authority.rfind('@') {
        Some(i) => format!("<redacted>@{}", &authority[i + 1..]),
        None => authority.to_owned(),
    };
    let path = match path.find('?') {
        Some(i) => format!("{}?<redacted>", &path[..i]),
        None => path.to_owned(),
    };
    format!("{scheme}{host}{path}")
}

/// A client for `url` (`redis://`, `rediss://` for TLS): only parses it.
pub(crate) fn open(url: &str) -> Result<redis::Client, RedisUrlError> {
    let client = redis::Client::open(url).map_err(|source| RedisUrlError {
        url: redact(url),
        source,
    })?;
    if let redis::ConnectionAddr::TcpTls { insecure: true, .. } =
        client.get_connection_info().addr()
    {
        // It would fail at every connection attempt anyway (redis-rs
        // without `tls-rustls-insecure`); say so now.
        return Err(RedisUrlError {
            url: redact(url),
            source: redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "TLS certificate checks cannot be turned off (#insecure)",
            )),
        });
    }
    Ok(client)
}

/// `client` trusting the CA certificates in `pem` instead of the
/// system's roots.
pub(crate) fn with_root_ca(
    client: &redis::Client,
    pem: Vec<u8>,
) -> Result<redis::Client, RedisUrlError> {
    let info = client.get_connection_info().clone();
    let shown = format!("{:?}", info.addr());
    // redis-rs takes a PEM without certificates as "trust nothing":
    // every connection would fail later; refuse it now.
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    if !certs.is_ok_and(|c| !c.is_empty()) {
        return Err(RedisUrlError {
            url: shown,
            source: redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "no CA certificate in the PEM given",
            )),
        });
    }
    let certs = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    redis::Client::build_with_tls(info, certs)
        .map_err(|source| RedisUrlError { url: shown, source })
}
