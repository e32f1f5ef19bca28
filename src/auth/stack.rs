//! Applying an instance-wide and a per-handler plugin layer in netaio's
//! order.

use std::fmt;
use std::sync::Arc;

use super::{AuthError, AuthPlugin, CipherPlugin, Link, Role};
use crate::wire::Message;

/// One layer of plugins: an optional cipher and an optional auth plugin,
/// shared cheaply (`Arc`) between every connection and handler using them.
///
/// ```
/// use framewire::{NetaioHmac, NetaioStreamCipher, PluginLayer};
///
/// let layer = PluginLayer::new()
///     .with_cipher(NetaioStreamCipher::new("key"))
///     .with_auth(NetaioHmac::new("secret"));
/// assert!(!layer.is_empty());
/// assert!(!layer.is_peer_specific());
/// ```
#[derive(Clone, Default)]
pub struct PluginLayer {
    auth: Option<Arc<dyn AuthPlugin>>,
    cipher: Option<Arc<dyn CipherPlugin>>,
}

impl PluginLayer {
    /// No plugins: messages pass unchanged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the auth plugin.
    pub fn with_auth(self, plugin: impl AuthPlugin + 'static) -> Self {
        self.with_shared_auth(Arc::new(plugin))
    }

    /// Sets an auth plugin that is also used elsewhere. Sharing an instance
    /// shares its nonce cache: do not use one instance for both layers of a
    /// stack, or the inner check sees the outer layer's nonce as a replay.
    pub fn with_shared_auth(mut self, plugin: Arc<dyn AuthPlugin>) -> Self {
        self.auth = Some(plugin);
        self
    }

    /// Sets the cipher plugin.
    pub fn with_cipher(self, plugin: impl CipherPlugin + 'static) -> Self {
        self.with_shared_cipher(Arc::new(plugin))
    }

    /// Sets a cipher plugin that is also used elsewhere.
    pub fn with_shared_cipher(mut self, plugin: Arc<dyn CipherPlugin>) -> Self {
        self.cipher = Some(plugin);
        self
    }

    /// The auth plugin.
    pub fn auth(&self) -> Option<&Arc<dyn AuthPlugin>> {
        self.auth.as_ref()
    }

    /// The cipher plugin.
    pub fn cipher(&self) -> Option<&Arc<dyn CipherPlugin>> {
        self.cipher.as_ref()
    }

    /// Whether the layer has no plugin.
    pub fn is_empty(&self) -> bool {
        self.auth.is_none() && self.cipher.is_none()
    }

    /// Whether either plugin depends on the receiving peer.
    pub fn is_peer_specific(&self) -> bool {
        self.auth.as_ref().is_some_and(|a| a.is_peer_specific())
            || self.cipher.as_ref().is_some_and(|c| c.is_peer_specific())
    }

    /// Send side of one layer: encrypt, then sign the encrypted body.
    pub fn seal(&self, message: Message, link: &Link<'_>) -> Result<Message, AuthError> {
        let mut message = match &self.cipher {
            Some(c) => c.encrypt(message, link)?,
            None => message,
        };
        if let Some(a) = &self.auth {
            a.make(&mut message, link)?;
        }
        Ok(message)
    }

    /// Receive side of one layer: check (then strip what only this layer's
    /// plugin wrote), then decrypt. How a refusal is answered and counted is
    /// decided here, once ([`RejectionKind`]).
    pub(crate) fn open(
        &self,
        mut message: Message,
        layer: Layer,
        link: &Link<'_>,
    ) -> Result<Message, Rejection> {
        if let Some(a) = &self.auth {
            if let Err(error) = a.check(&message, link) {
                // netaio never answers an error report that fails its check
                // (two peers would otherwise bounce AUTH_ERRORs forever).
                let reply = (!message.message_type.is_error()).then(|| Box::new(a.error_message()));
                let kind = if error.is_replay_cache_full() {
                    RejectionKind::Capacity
                } else {
                    RejectionKind::Auth
                };
                return Err(Rejection {
                    error,
                    layer,
                    kind,
                    reply,
                });
            }
            a.strip(&mut message);
        }
        match &self.cipher {
            Some(c) => c.decrypt(message, link).map_err(|error| Rejection {
                error,
                layer,
                kind: RejectionKind::Decrypt,
                // netaio drops undecryptable messages silently.
                reply: None,
            }),
            None => Ok(message),
        }
    }
}

impl fmt::Debug for PluginLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginLayer")
            .field("cipher", &self.cipher)
            .field("auth", &self.auth)
            .finish()
    }
}

/// Which layer of a [`PluginStack`] refused a message.
///
/// ```
/// use framewire::auth::Layer;
///
/// assert_ne!(Layer::Instance, Layer::Handler);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The instance-wide (outer) plugins.
    Instance,
    /// The per-handler (inner) plugins.
    Handler,
}

/// How a refused message is answered and counted.
///
/// ```
/// use framewire::auth::RejectionKind;
/// use framewire::{Message, MessageType, NetaioStreamCipher, PluginLayer, PluginStack};
///
/// let stack = PluginStack::new(PluginLayer::new().with_cipher(NetaioStreamCipher::new("k")));
/// let r = stack.open(Message::new(MessageType::REQUEST_URI, "x", "")).unwrap_err();
/// assert_eq!(r.kind, RejectionKind::Decrypt);
/// assert!(r.reply.is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectionKind {
    /// An auth plugin refused the message: it is answered with the
    /// plugin's error message (unless it is itself an error report) and
    /// counts toward the peer's auth-failure cap.
    Auth,
    /// Refused for the receiver's capacity (a full replay cache), not for
    /// anything the peer did wrong: answered like [`Auth`](Self::Auth) but
    /// not counted against the peer.
    Capacity,
    /// A cipher could not decrypt it: dropped without an answer, as netaio
    /// does.
    Decrypt,
}

/// A refused incoming message: why, where, and what (if anything) netaio
/// would answer.
///
/// `reply` is the failing auth plugin's error message (netaio
/// `auth_error_handler`), to be sent **without** any plugins (unsigned,
/// unencrypted), or `None` when netaio stays silent: the message was itself
/// an `ERROR`/`AUTH_ERROR`, or decryption failed.
///
/// ```
/// use framewire::{Message, MessageType, NetaioHmac, PluginLayer, PluginStack};
///
/// let stack = PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("s")));
/// let rejected = stack.open(Message::new(MessageType::REQUEST_URI, "echo", "")).unwrap_err();
/// assert!(rejected.error.is_missing_field());
/// assert_eq!(rejected.reply.unwrap().message_type, MessageType::AUTH_ERROR);
///
/// let quiet = stack.open(Message::new(MessageType::AUTH_ERROR, "ERROR", "")).unwrap_err();
/// assert!(quiet.reply.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejection {
    /// The plugin's error (generic `Display`, specific variant).
    pub error: AuthError,
    /// The layer that refused.
    pub layer: Layer,
    /// How it is answered and counted.
    pub kind: RejectionKind,
    /// What to send back, unsigned and unencrypted, if anything (boxed to
    /// keep `Result<Message, Rejection>` small on the success path).
    pub reply: Option<Box<Message>>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<Rejection> for AuthError {
    fn from(r: Rejection) -> Self {
        r.error
    }
}

/// The plugins that apply to one exchange: the instance-wide layer plus an
/// optional per-handler layer, in netaio 0.0.9's order.
///
/// ```text
/// seal: handler cipher → handler auth → instance cipher → instance auth
/// open: instance auth → instance cipher → handler auth → handler cipher
/// ```
///
/// A server that routes on the decrypted uri calls
/// [`open_instance`](Self::open_instance), picks the handler, then
/// [`open_handler`](Self::open_handler) on a stack carrying that handler's
/// layer. Stacked auth plugins share one `nonce` and `ts` (the inner one
/// writes them, the outer reuses them) and each writes its own MAC field.
///
/// ```
/// use framewire::{Message, MessageType, NetaioHmac, PluginLayer, PluginStack};
///
/// // netaio's readme pattern: instance secret on `hmac`, handler secret on `camh`.
/// let server = PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("test")))
///     .with_handler(PluginLayer::new().with_auth(NetaioHmac::new("tset").hmac_field("camh")));
/// let client = PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("test")))
///     .with_handler(PluginLayer::new().with_auth(NetaioHmac::new("tset").hmac_field("camh")));
///
/// let sent = client.seal(Message::new(MessageType::CREATE_URI, "test1", "content")).unwrap();
/// assert!(sent.auth.contains("hmac") && sent.auth.contains("camh"));
/// let got = server.open(sent).unwrap(); // one nonce, two layers: not a replay
/// assert_eq!(&got.content()[..], b"content");
/// ```
#[derive(Clone, Debug)]
pub struct PluginStack {
    instance: PluginLayer,
    handler: PluginLayer,
    role: Role,
}

impl Default for PluginStack {
    fn default() -> Self {
        PluginStack::new(PluginLayer::new())
    }
}

impl PluginStack {
    /// A stack with the instance-wide layer only, acting as a client (it
    /// seals as a client and opens what a server sent).
    pub fn new(instance: PluginLayer) -> Self {
        PluginStack {
            instance,
            handler: PluginLayer::new(),
            role: Role::Client,
        }
    }

    /// Acts as `role` instead (default [`Role::Client`]): what a
    /// direction-binding plugin such as [`StrictHmac`](crate::StrictHmac)
    /// signs as, and expects the other end to be.
    pub fn role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    /// Adds the per-handler layer.
    pub fn with_handler(mut self, handler: PluginLayer) -> Self {
        self.handler = handler;
        self
    }

    /// The instance-wide layer.
    pub fn instance(&self) -> &PluginLayer {
        &self.instance
    }

    /// The per-handler layer (empty if none).
    pub fn handler(&self) -> &PluginLayer {
        &self.handler
    }

    /// Whether any plugin depends on the receiving peer; if not, a
    /// broadcast can be sealed once and the same bytes sent to everyone.
    pub fn is_peer_specific(&self) -> bool {
        self.instance.is_peer_specific() || self.handler.is_peer_specific()
    }

    /// The stack as borrowed layers.
    fn view(&self) -> Stack<'_> {
        Stack {
            instance: &self.instance,
            handler: Some(&self.handler),
        }
    }

    /// Prepares an outgoing message: handler layer, then instance layer.
    pub fn seal(&self, message: Message) -> Result<Message, AuthError> {
        self.seal_with(message, &Link::new(self.role))
    }

    /// [`seal`](Self::seal) on a given link (role, connection, session).
    pub fn seal_with(&self, message: Message, link: &Link<'_>) -> Result<Message, AuthError> {
        self.view().seal(message, link)
    }

    /// Checks and decrypts an incoming message: instance layer, then
    /// handler layer.
    pub fn open(&self, message: Message) -> Result<Message, Rejection> {
        self.open_with(message, &Link::new(self.role))
    }

    /// [`open`](Self::open) on a given link.
    pub fn open_with(&self, message: Message, link: &Link<'_>) -> Result<Message, Rejection> {
        let view = self.view();
        view.open_handler(view.open_instance(message, link)?, link)
    }

    /// Only the instance layer (before routing).
    pub fn open_instance(&self, message: Message) -> Result<Message, Rejection> {
        self.view().open_instance(message, &Link::new(self.role))
    }

    /// Only the handler layer (after routing).
    pub fn open_handler(&self, message: Message) -> Result<Message, Rejection> {
        self.view().open_handler(message, &Link::new(self.role))
    }
}

/// The one implementation of netaio's plugin order, over borrowed layers:
/// [`PluginStack`] owns its layers and lends them here; the pipeline lends
/// a connection's instance layer and the routed handler's layer, without
/// building a stack per message.
#[derive(Clone, Copy)]
pub(crate) struct Stack<'a> {
    pub(crate) instance: &'a PluginLayer,
    pub(crate) handler: Option<&'a PluginLayer>,
}

impl Stack<'_> {
    /// Handler layer, then instance layer.
    pub(crate) fn seal(self, message: Message, link: &Link<'_>) -> Result<Message, AuthError> {
        let message = match self.handler {
            Some(h) => h.seal(message, link)?,
            None => message,
        };
        self.instance.seal(message, link)
    }

    /// The instance layer (before routing: routes are keyed on what it
    /// decrypts).
    pub(crate) fn open_instance(
        self,
        message: Message,
        link: &Link<'_>,
    ) -> Result<Message, Rejection> {
        self.instance.open(message, Layer::Instance, link)
    }

    /// The handler layer (after routing).
    pub(crate) fn open_handler(
        self,
        message: Message,
        link: &Link<'_>,
    ) -> Result<Message, Rejection> {
        match self.handler {
            Some(h) => h.open(message, Layer::Handler, link),
            None => Ok(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthFieldRole, NetaioHmac, NetaioStreamCipher, StrictHmac};
    use crate::wire::MessageType;

    #[test]
    fn order_is_cipher_then_auth_on_both_layers() {
        let make = || {
            PluginStack::new(
                PluginLayer::new()
                    .with_cipher(NetaioStreamCipher::new("outer-key"))
                    .with_auth(NetaioHmac::new("outer")),
            )
            .with_handler(
                PluginLayer::new()
                    .with_cipher(NetaioStreamCipher::new("inner-key").iv_field("iv2"))
                    .with_auth(NetaioHmac::new("inner").hmac_field("camh")),
            )
        };
        let sealed = make()
            .seal(Message::new(MessageType::REQUEST_URI, "echo", "hi"))
            .unwrap();
        // The outer MAC is over the doubly encrypted body.
        let outer_only = PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("outer")));
        let after_outer_auth = outer_only.open(sealed.clone()).unwrap();
        assert_eq!(after_outer_auth.body, sealed.body);
        let opened = make().open(sealed).unwrap();
        assert_eq!(
            (&opened.uri()[..], &opened.content()[..]),
            (&b"echo"[..], &b"hi"[..])
        );
    }

    #[test]
    fn decrypt_failure_is_silent_and_auth_failure_answers() {
        let stack = PluginStack::new(PluginLayer::new().with_cipher(NetaioStreamCipher::new("k")));
        let r = stack
            .open(Message::new(MessageType::REQUEST_URI, "x", "y"))
            .unwrap_err();
        assert_eq!(r.error, AuthError::MissingField(AuthFieldRole::Iv));
        assert_eq!(r.layer, Layer::Instance);
        assert!(r.reply.is_none());

        let stack = PluginStack::new(PluginLayer::new())
            .with_handler(PluginLayer::new().with_auth(NetaioHmac::new("s")));
        let r = stack
            .open(Message::new(MessageType::REQUEST_URI, "x", "y"))
            .unwrap_err();
        assert_eq!(r.layer, Layer::Handler);
        let reply = r.reply.unwrap();
        assert_eq!(&reply.content()[..], b"HMAC auth failed");
        assert!(reply.auth.is_empty());
    }

    #[test]
    fn a_layer_reports_what_it_holds() {
        let empty = PluginLayer::new();
        assert!(empty.is_empty() && empty.auth().is_none() && empty.cipher().is_none());
        let auth = PluginLayer::new().with_auth(NetaioHmac::new("s"));
        assert!(!auth.is_empty() && auth.auth().is_some() && auth.cipher().is_none());
        let cipher = PluginLayer::new().with_cipher(NetaioStreamCipher::new("k"));
        assert!(!cipher.is_empty() && cipher.cipher().is_some() && cipher.auth().is_none());
        assert!(!auth.is_peer_specific() && !cipher.is_peer_specific());
        // One peer-specific plugin makes the layer peer specific.
        let strict = PluginLayer::new().with_auth(StrictHmac::new("s"));
        assert!(strict.is_peer_specific());
        assert!(strict
            .clone()
            .with_cipher(NetaioStreamCipher::new("k"))
            .is_peer_specific());
        let d = format!("{:?}", cipher.with_auth(NetaioHmac::new("s")));
        assert!(
            d.starts_with("PluginLayer")
                && d.contains("NetaioStreamCipher")
                && d.contains("NetaioHmac"),
            "{d}"
        );
    }

    #[test]
    fn a_stack_lends_its_layers_and_is_peer_specific_if_either_is() {
        let plain = PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("s")));
        assert!(plain.instance().auth().is_some() && plain.handler().is_empty());
        assert!(!plain.is_peer_specific());
        let inner =
            PluginStack::default().with_handler(PluginLayer::new().with_auth(StrictHmac::new("s")));
        assert!(inner.instance().is_empty() && inner.handler().auth().is_some());
        assert!(inner.is_peer_specific());
        let outer = PluginStack::new(PluginLayer::new().with_auth(StrictHmac::new("s")));
        assert!(outer.is_peer_specific());
    }

    #[test]
    fn each_layer_opens_alone_and_names_itself_when_it_refuses() {
        let stack = PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("outer")))
            .with_handler(
                PluginLayer::new().with_auth(NetaioHmac::new("inner").hmac_field("camh")),
            );
        let sealed = stack
            .seal(Message::new(MessageType::REQUEST_URI, "echo", "hi"))
            .unwrap();
        let routed = stack.open_instance(sealed).unwrap();
        assert!(!routed.auth.contains("hmac") && routed.auth.contains("camh"));
        let opened = stack.open_handler(routed).unwrap();
        assert!(!opened.auth.contains("camh"));
        assert_eq!(&opened.content()[..], b"hi");

        let unsigned = || Message::new(MessageType::REQUEST_URI, "echo", "");
        assert_eq!(
            stack.open_instance(unsigned()).unwrap_err().layer,
            Layer::Instance
        );
        assert_eq!(
            stack.open_handler(unsigned()).unwrap_err().layer,
            Layer::Handler
        );
    }

    #[test]
    fn a_rejection_displays_and_sources_its_error() {
        let stack = PluginStack::new(PluginLayer::new().with_auth(NetaioHmac::new("s")));
        let r = stack
            .open(Message::new(MessageType::REQUEST_URI, "x", ""))
            .unwrap_err();
        let text = r.error.to_string();
        assert!(!text.is_empty());
        assert_eq!(r.to_string(), text);
        let source = std::error::Error::source(&r).map(ToString::to_string);
        assert_eq!(source, Some(text));
        let error = r.error.clone();
        assert_eq!(AuthError::from(r), error);
    }
}
