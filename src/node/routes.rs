//! The route contract `framewire node` implements: the same as `framewire
//! serve`'s (netaio's readme example: echo, the in-memory store,
//! subscribe / publish / broadcast), over datagrams. Subscriptions are by
//! source address; `broadcast` goes to every known peer.

use crate::store::MemoryStore;
use crate::wire::{Message, MessageType};

use super::{NodeBuilder, Origin};

/// Adds the readme route contract to `builder`: REQUEST_URI `echo`
/// answers with the content; CREATE_URI, REQUEST_URI, UPDATE_URI and
/// DELETE_URI work an in-memory store keyed by uri
/// ([`MemoryStore`](crate::store::MemoryStore)); SUBSCRIBE_URI and
/// UNSUBSCRIBE_URI subscribe the source address (CONFIRM_SUBSCRIBE /
/// CONFIRM_UNSUBSCRIBE); PUBLISH_URI `pub/<topic>` notifies the topic's
/// subscribers and `broadcast` every known peer (OK `published` /
/// `broadcast`).
///
/// ```
/// use framewire::node::{readme_routes, Node};
///
/// let node = readme_routes(Node::builder()).build();
/// # drop(node);
/// ```
pub fn readme_routes(builder: NodeBuilder) -> NodeBuilder {
    let store = MemoryStore::default();
    let mut builder = builder.on(
        (MessageType::REQUEST_URI, "echo"),
        |m: Message, _o: Origin| async move { Message::respond("echo", m.content().clone()) },
    );
    for t in [
        MessageType::CREATE_URI,
        MessageType::REQUEST_URI,
        MessageType::UPDATE_URI,
        MessageType::DELETE_URI,
    ] {
        let store = store.clone();
        builder = builder.on(t, move |m: Message, _o: Origin| {
            let reply = store.handle(&m);
            async move { reply }
        });
    }
    builder
        .on(
            MessageType::SUBSCRIBE_URI,
            |m: Message, o: Origin| async move {
                o.subscribe(m.uri().clone())
                    .map(|()| Message::new(MessageType::CONFIRM_SUBSCRIBE, m.uri().clone(), ""))
            },
        )
        .on(
            MessageType::UNSUBSCRIBE_URI,
            |m: Message, o: Origin| async move {
                o.unsubscribe(m.uri());
                Message::new(MessageType::CONFIRM_UNSUBSCRIBE, m.uri().clone(), "")
            },
        )
        .on(
            MessageType::PUBLISH_URI,
            |m: Message, o: Origin| async move {
                let uri = m.uri().clone();
                let node = o.node();
                let sent = if &uri[..] == b"broadcast" {
                    let note =
                        Message::new(MessageType::NOTIFY_URI, "broadcast", m.content().clone());
                    node.broadcast(note).await.map(|_| "broadcast")
                } else if let Some(topic) = uri.strip_prefix(b"pub/") {
                    let topic = uri.slice_ref(topic);
                    let note =
                        Message::new(MessageType::NOTIFY_URI, topic.clone(), m.content().clone());
                    node.notify(&topic, note).await.map(|_| "published")
                } else {
                    return Ok(Message::not_found(uri));
                };
                sent.map(|text| Message::ok(uri, text))
                    .map_err(|e| e.to_string())
            },
        )
}
