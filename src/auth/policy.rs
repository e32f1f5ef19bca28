//! [`AuthFailurePolicy`]: what a server does with a frame its auth
//! plugins refuse.

/// What a server does with a frame that fails its auth check (a bad MAC,
/// a replay, an unknown user, a message before the login). Every policy
/// counts the failure and closes the connection past
/// [`Limits::max_auth_failures`](crate::server::Limits::max_auth_failures).
///
/// ```
/// use framewire::auth::AuthFailurePolicy;
/// use framewire::server::Limits;
///
/// let limits = Limits::default().auth_failure(AuthFailurePolicy::Close);
/// assert_eq!(Limits::default().auth_failure, AuthFailurePolicy::Reply);
/// # let _ = limits;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthFailurePolicy {
    /// Answer with the plugin's AUTH_ERROR and keep the connection, as
    /// netaio does (default: netaio clients expect the answer).
    #[default]
    Reply,
    /// Answer nothing and keep the connection: a prober learns nothing,
    /// not even that the frame arrived.
    Drop,
    /// Answer nothing and close the connection at once.
    Close,
}
