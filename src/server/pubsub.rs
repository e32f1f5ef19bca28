//! netaio's subscribe pattern as ready-made handlers (netaio leaves it to
//! each application; its readme shows these two).

use crate::wire::{Message, MessageType};

use super::{Context, SubscribeError};

/// SUBSCRIBE_URI: subscribes the connection to the uri and confirms, or
/// answers the cap as an ERROR. With a [`GROUP_FIELD`](crate::protocol::GROUP_FIELD),
/// as a member of that queue group.
/// With a topic history, a SUBSCRIBE_URI that carries a position
/// ([`RESUME_FIELD`](crate::protocol::RESUME_FIELD)) is first sent what
/// came after it.
pub(super) fn subscribe(msg: Message, ctx: &Context) -> Result<Message, SubscribeError> {
    // A queue-group member is not resumed: what it missed went to the
    // group's other members.
    if let Some(group) = crate::protocol::group_of(&msg) {
        ctx.subscribe_group(msg.uri().clone(), group)?;
        return Ok(Message::new(
            MessageType::CONFIRM_SUBSCRIBE,
            msg.uri().clone(),
            "",
        ));
    }
    let history = ctx.server().shared.history.as_ref();
    match (history, crate::protocol::Position::resumed_from(&msg)) {
        (Some(h), Some(from)) => h.resume(
            msg.uri(),
            from,
            || ctx.subscribe(msg.uri().clone()),
            // Queued like live notifications (a full queue applies the
            // slow-consumer policy); the confirmation comes after them.
            |m| {
                let _ = ctx.send_unchanged(m);
            },
        )?,
        _ => ctx.subscribe(msg.uri().clone())?,
    }
    Ok(Message::new(
        MessageType::CONFIRM_SUBSCRIBE,
        msg.uri().clone(),
        "",
    ))
}

/// UNSUBSCRIBE_URI: confirms whether or not the connection was subscribed.
pub(super) fn unsubscribe(msg: Message, ctx: &Context) -> Message {
    ctx.unsubscribe(msg.uri());
    Message::new(MessageType::CONFIRM_UNSUBSCRIBE, msg.uri().clone(), "")
}
