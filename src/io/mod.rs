//! The I/O both connection shells share: the frame reader and the bounded
//! outbound queue with its batching writer. Bytes and sockets only; what a
//! frame means is the pipeline's business, when to give up the shells'.

pub(crate) mod outbound;
pub(crate) mod reader;
pub(crate) mod writer;
