//! netaio's subscribe pattern as ready-made handlers (netaio leaves it to
//! each application; its readme shows these two).

use crate::wire::{Message, MessageType};

use super::{Context, SubscribeError};

/// SUBSCRIBE_URI: subscribes the connection to the uri and confirms, or
/// answers the cap as an ERROR.
pub(super) fn subscribe(msg: Message, ctx: &Context) -> Result<Message, SubscribeError> {
    ctx.subscribe(msg.uri().clone())?;
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
