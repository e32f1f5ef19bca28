//! A connection's bounded outbound queue — bounded in frames and bytes,
//! never blocking a publisher (`try_push`), with back-pressure for the
//! connection's own replies (`push`) — and the writer loop that drains it
//! into a socket. Shared by the server and the client.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::Notify;

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The queue is at its frame or byte bound.
    Full,
    /// The connection is closing.
    Closed,
}

struct State {
    frames: VecDeque<Bytes>,
    bytes: usize,
    closed: bool,
}

pub(crate) struct Outbound {
    state: Mutex<State>,
    /// Wakes the single writer task.
    writer: Notify,
    /// Wakes tasks waiting in `push` for room.
    space: Notify,
    max_frames: usize,
    max_bytes: usize,
}

impl Outbound {
    pub(crate) fn new(max_frames: usize, max_bytes: usize) -> Self {
        Outbound {
            state: Mutex::new(State {
                frames: VecDeque::new(),
                bytes: 0,
                closed: false,
            }),
            writer: Notify::new(),
            space: Notify::new(),
            max_frames: max_frames.max(1),
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// Queues `frame` if there is room; never waits.
    pub(crate) fn try_push(&self, frame: Bytes) -> Result<(), PushError> {
        let mut st = self.lock();
        if st.closed {
            return Err(PushError::Closed);
        }
        // One oversized frame may enter an empty queue, or it could never
        // be sent at all.
        let fits = st.frames.is_empty()
            || (st.frames.len() < self.max_frames && st.bytes + frame.len() <= self.max_bytes);
        if !fits {
            return Err(PushError::Full);
        }
        st.bytes += frame.len();
        st.frames.push_back(frame);
        drop(st);
        self.writer.notify_one();
        Ok(())
    }

    /// Queues `frame`, waiting for room. Used for a connection's replies to
    /// its own requests: a peer that does not read its replies stops being
    /// read from, which is the back-pressure it asked for.
    pub(crate) async fn push(&self, frame: Bytes) -> Result<(), PushError> {
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            // Register before trying, so a wake-up between the try and the
            // await is not lost.
            notified.as_mut().enable();
            match self.try_push(frame.clone()) {
                Err(PushError::Full) => notified.await,
                other => return other,
            }
        }
    }

    /// Queues every frame of `batch` in order (emptying it), waiting for
    /// room as [`push`](Self::push) does, with one lock and one writer
    /// wake-up for as many as fit at a time: the replies to a read's worth
    /// of pipelined requests reach the writer together and leave in one
    /// write.
    pub(crate) async fn push_all(&self, batch: &mut Vec<Bytes>) -> Result<(), PushError> {
        let mut sent = 0;
        let result = loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                if st.closed {
                    break Err(PushError::Closed);
                }
                while let Some(frame) = batch.get(sent) {
                    let fits = st.frames.is_empty()
                        || (st.frames.len() < self.max_frames
                            && st.bytes + frame.len() <= self.max_bytes);
                    if !fits {
                        break;
                    }
                    st.bytes += frame.len();
                    st.frames.push_back(frame.clone());
                    sent += 1;
                }
            }
            self.writer.notify_one();
            if sent == batch.len() {
                break Ok(());
            }
            notified.await;
        };
        batch.clear();
        result
    }

    /// No more frames are accepted; the writer sends what is queued, then
    /// stops.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.writer.notify_one();
        self.space.notify_waiters();
    }

    /// Moves every queued frame into `out`, waiting if there are none.
    /// Returns false once the queue is closed and empty.
    pub(crate) async fn next_batch(&self, out: &mut Vec<Bytes>) -> bool {
        loop {
            let notified = self.writer.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                if !st.frames.is_empty() {
                    out.extend(st.frames.drain(..));
                    st.bytes = 0;
                    drop(st);
                    self.space.notify_waiters();
                    return true;
                }
                if st.closed {
                    return false;
                }
            }
            notified.await;
        }
    }

    /// Frames and bytes waiting.
    pub(crate) fn len(&self) -> (usize, usize) {
        let st = self.lock();
        (st.frames.len(), st.bytes)
    }
}

/// Drains `queue` into `wr` until the queue is closed and empty (then shuts
/// the socket's write side down cleanly) or a write fails. Frames are
/// buffered and flushed when the queue runs dry, so pipelined replies and
/// fan-out share syscalls. A write or flush that makes no progress for
/// `stall_limit` fails with `TimedOut`: the peer stopped reading.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    queue: &Outbound,
    wr: W,
    stall_limit: Duration,
    mut on_batch: impl FnMut(usize, usize),
) -> std::io::Result<()> {
    let mut wr = BufWriter::with_capacity(64 * 1024, wr);
    let mut batch: Vec<Bytes> = Vec::new();
    while queue.next_batch(&mut batch).await {
        let (n, mut bytes) = (batch.len(), 0);
        for frame in batch.drain(..) {
            bytes += frame.len();
            stall_guard(stall_limit, wr.write_all(&frame)).await?;
        }
        stall_guard(stall_limit, wr.flush()).await?;
        on_batch(n, bytes);
    }
    stall_guard(stall_limit, wr.shutdown()).await
}

/// Runs `op`, failing with `TimedOut` if it makes no progress for
/// `limit`. The timer is armed only once `op` has to wait: most writes go
/// into the write buffer at once, and a clock read and a timer per frame
/// would cost more than the write.
async fn stall_guard<T>(
    limit: Duration,
    op: impl Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    let mut op = std::pin::pin!(op);
    let ready = std::future::poll_fn(|cx| match op.as_mut().poll(cx) {
        Poll::Ready(r) => Poll::Ready(Some(r)),
        Poll::Pending => Poll::Ready(None),
    })
    .await;
    match ready {
        Some(r) => r,
        None => tokio::time::timeout(limit, op)
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounds_and_close() {
        let q = Outbound::new(2, 10);
        assert_eq!(q.try_push(Bytes::from_static(&[0; 20])), Ok(())); // oversized into empty
        assert_eq!(q.try_push(Bytes::from_static(b"x")), Err(PushError::Full)); // bytes
        let mut batch = Vec::new();
        assert!(q.next_batch(&mut batch).await);
        assert_eq!(batch.len(), 1);
        assert_eq!(q.try_push(Bytes::from_static(b"a")), Ok(()));
        assert_eq!(q.try_push(Bytes::from_static(b"b")), Ok(()));
        assert_eq!(q.try_push(Bytes::from_static(b"c")), Err(PushError::Full)); // frames
        assert_eq!(q.len(), (2, 2));
        q.close();
        assert_eq!(q.try_push(Bytes::from_static(b"d")), Err(PushError::Closed));
        batch.clear();
        assert!(
            q.next_batch(&mut batch).await,
            "queued frames survive close"
        );
        assert_eq!(batch.len(), 2);
        assert!(!q.next_batch(&mut batch).await);
    }

    #[tokio::test]
    async fn push_all_keeps_order_and_waits_for_room() {
        let q = std::sync::Arc::new(Outbound::new(2, 100));
        let q2 = q.clone();
        let pusher = tokio::spawn(async move {
            let mut batch: Vec<Bytes> = (0..5u8).map(|i| Bytes::from(vec![i])).collect();
            let r = q2.push_all(&mut batch).await;
            (r, batch.len())
        });
        let mut got = Vec::new();
        while got.len() < 5 {
            let mut batch = Vec::new();
            assert!(q.next_batch(&mut batch).await);
            assert!(batch.len() <= 2, "bounded: {}", batch.len());
            got.extend(batch.into_iter().map(|b| b[0]));
        }
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert_eq!(pusher.await.unwrap(), (Ok(()), 0));
    }

    #[tokio::test]
    async fn push_waits_for_room() {
        let q = std::sync::Arc::new(Outbound::new(1, 100));
        q.try_push(Bytes::from_static(b"first")).unwrap();
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.push(Bytes::from_static(b"second")).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        let mut batch = Vec::new();
        assert!(q.next_batch(&mut batch).await);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        assert_eq!(q.len().0, 1);
    }
}
