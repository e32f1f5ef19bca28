//! Finding the rustls error behind a failed connection.

use std::error::Error;

/// The `rustls::Error` behind `err`, wherever it sits in the source chain
/// (a failed handshake reaches callers as an I/O error wrapping it, inside
/// a [`ClientError::Connect`](crate::client::ClientError::Connect)): what
/// to match on to tell an unknown issuer from a name mismatch or an
/// expired certificate.
///
/// ```
/// use framewire::tls::{handshake_error, rustls};
///
/// let io = std::io::Error::new(
///     std::io::ErrorKind::InvalidData,
///     rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
/// );
/// assert!(matches!(
///     handshake_error(&io),
///     Some(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer))
/// ));
/// assert!(handshake_error(&std::io::Error::other("no TLS here")).is_none());
/// ```
pub fn handshake_error<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // io::Error's `source` skips the error it wraps: look inside.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
        }
        next = e.source();
    }
    None
}
