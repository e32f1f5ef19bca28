//! A connection's bounded outbound queue — bounded in frames and bytes,
//! never blocking a publisher (`try_push`), with back-pressure for the
//! connection's own replies (`push`) — and the client's writer loop that
//! drains it into a socket (a server connection's writer shares its
//! socket with the reader: `shared_write.rs`). The queue is shared by the
//! server and the client.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::Notify;

use crate::proto::connection::Run;

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The queue is at its frame or byte bound.
    Full,
    /// The connection is closing.
    Closed,
}

struct State {
    /// Single frames and runs, in send order.
    frames: VecDeque<Bytes>,
    /// Frames queued (a run counts as the frames it holds).
    count: usize,
    bytes: usize,
    closed: bool,
    /// Bytes the connection's reader left in the shared write half for
    /// the writer task to finish (see `shared_write.rs`).
    handed_over: bool,
}

impl State {
    fn fits(&self, frames: usize, len: usize, max_frames: usize, max_bytes: usize) -> bool {
        // One oversized frame (or run) may enter an empty queue, or it
        // could never be sent at all.
        self.count == 0 || (self.count + frames <= max_frames && self.bytes + len <= max_bytes)
    }

    fn add(&mut self, bytes: Bytes, frames: usize) {
        self.count += frames;
        self.bytes += bytes.len();
        self.frames.push_back(bytes);
    }

    /// Moves everything queued into `out`; how many frames it held.
    fn take(&mut self, out: &mut Vec<Bytes>) -> usize {
        out.extend(self.frames.drain(..));
        self.bytes = 0;
        std::mem::take(&mut self.count)
    }
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
                count: 0,
                bytes: 0,
                closed: false,
                handed_over: false,
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
        self.offer(frame).map_err(|(e, _)| e)
    }

    /// [`try_push`](Self::try_push), giving the frame back if it was not
    /// queued (no clone per attempt of a frame that may have to wait).
    pub(crate) fn offer(&self, frame: Bytes) -> Result<(), (PushError, Bytes)> {
        self.enqueue(frame)?;
        self.writer.notify_one();
        Ok(())
    }

    /// [`offer`](Self::offer) without waking the writer: for a caller that
    /// queues under its own lock and wakes the writer
    /// ([`wake_writer`](Self::wake_writer)) once that lock is released,
    /// since a wake-up can take a system call.
    pub(crate) fn enqueue(&self, frame: Bytes) -> Result<(), (PushError, Bytes)> {
        self.enqueue_run(frame, 1)
    }

    fn enqueue_run(&self, bytes: Bytes, frames: usize) -> Result<(), (PushError, Bytes)> {
        let mut st = self.lock();
        if st.closed {
            return Err((PushError::Closed, bytes));
        }
        if !st.fits(frames, bytes.len(), self.max_frames, self.max_bytes) {
            return Err((PushError::Full, bytes));
        }
        st.add(bytes, frames);
        Ok(())
    }

    /// [`try_push`](Self::try_push) for a run of frames.
    pub(crate) fn try_push_run(&self, run: Run) -> Result<(), PushError> {
        self.enqueue_run(run.bytes, run.frames)
            .map_err(|(e, _)| e)?;
        self.writer.notify_one();
        Ok(())
    }

    /// Wakes the writer for frames [`enqueue`](Self::enqueue)d.
    pub(crate) fn wake_writer(&self) {
        self.writer.notify_one();
    }

    /// Queues `frame`, waiting for room. Used for a connection's replies to
    /// its own requests: a peer that does not read its replies stops being
    /// read from, which is the back-pressure it asked for.
    pub(crate) async fn push(&self, mut frame: Bytes) -> Result<(), PushError> {
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            // Register before trying, so a wake-up between the try and the
            // await is not lost.
            notified.as_mut().enable();
            match self.offer(frame) {
                Ok(()) => return Ok(()),
                Err((PushError::Full, back)) => frame = back,
                Err((e, _)) => return Err(e),
            }
            notified.await;
        }
    }

    /// Queues every run of `batch` in order (emptying it), waiting for
    /// room as [`push`](Self::push) does, with one lock and one writer
    /// wake-up for as many as fit at a time: the replies to a read's worth
    /// of pipelined requests reach the writer together and leave in one
    /// write.
    pub(crate) async fn push_all(&self, batch: &mut Vec<Run>) -> Result<(), PushError> {
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
                while let Some(run) = batch.get_mut(sent) {
                    if !st.fits(run.frames, run.bytes.len(), self.max_frames, self.max_bytes) {
                        break;
                    }
                    st.add(std::mem::take(&mut run.bytes), run.frames);
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

    /// Moves every queued frame into `out` (a run arrives as one buffer),
    /// waiting if there are none. Returns how many frames that was, or
    /// `None` once the queue is closed and empty.
    pub(crate) async fn next_batch(&self, out: &mut Vec<Bytes>) -> Option<usize> {
        let n = self
            .writer_waits(|st| match st.count {
                0 if st.closed => Some(None),
                0 => None,
                _ => Some(Some(st.take(out))),
            })
            .await?;
        self.space.notify_waiters();
        Some(n)
    }

    /// Waits until frames are queued or a write was handed over (true),
    /// or the queue is closed with neither (false). Takes nothing: a
    /// writer sharing the socket takes frames only once it holds it.
    pub(crate) async fn wait_work(&self) -> bool {
        self.writer_waits(|st| {
            if st.count > 0 || std::mem::take(&mut st.handed_over) {
                Some(true)
            } else {
                st.closed.then_some(false)
            }
        })
        .await
    }

    /// The writer's wait: until `ready` (called under the lock) gives a
    /// value, waking for each notification.
    async fn writer_waits<T>(&self, mut ready: impl FnMut(&mut State) -> Option<T>) -> T {
        loop {
            let notified = self.writer.notified();
            tokio::pin!(notified);
            // Registered before looking, so a wake-up between the look and
            // the await is not lost.
            notified.as_mut().enable();
            if let Some(v) = ready(&mut self.lock()) {
                return v;
            }
            notified.await;
        }
    }

    /// Tells the writer a write was left for it to finish.
    pub(crate) fn hand_over(&self) {
        self.lock().handed_over = true;
        self.writer.notify_one();
    }

    /// Moves every queued frame into `out` without waiting; how many.
    pub(crate) fn take_ready(&self, out: &mut Vec<Bytes>) -> usize {
        let mut st = self.lock();
        let n = st.take(out);
        drop(st);
        if n > 0 {
            self.space.notify_waiters();
        }
        n
    }

    /// Frames and bytes waiting.
    pub(crate) fn len(&self) -> (usize, usize) {
        let st = self.lock();
        (st.count, st.bytes)
    }
}

/// How many times a writer yields for more frames before it flushes
/// anyway: bounds the delay a steady trickle of frames can add.
const MAX_YIELDS: usize = 4;

/// A client's writer: drains `queue` into `wr` until the queue is closed
/// and empty (then shuts the socket's write side down cleanly) or a write
/// fails. Frames are buffered and flushed when the queue stays dry across
/// a yield to the scheduler: frames queued one at a time by many tasks (a
/// client shared by concurrent requests) would otherwise leave one syscall
/// per frame, since the writer, woken by the first, runs before the rest
/// are queued. While yielding finds nothing (one request at a time), the
/// writer flushes when dry until frames arrive together again. A write or
/// flush that makes no progress for `stall_limit` fails with `TimedOut`:
/// the peer stopped reading. (A server connection's writer is
/// [`SharedWrite`](super::shared_write::SharedWrite)'s.)
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    queue: &Outbound,
    wr: W,
    stall_limit: Duration,
    mut on_batch: impl FnMut(usize, usize),
) -> std::io::Result<()> {
    let mut wr = BufWriter::with_capacity(64 * 1024, wr);
    let mut batch: Vec<Bytes> = Vec::new();
    // Whether yielding found more frames lately. For one request at a time
    // it never does, and would cost a scheduler round (an extra poll of
    // the event loop) per frame; frames arriving together turn it back on.
    let mut yielding_pays = true;
    while let Some(mut taken) = queue.next_batch(&mut batch).await {
        if taken > 1 {
            yielding_pays = true;
        }
        let (mut n, mut bytes) = (0, 0);
        for round in 0..=MAX_YIELDS {
            n += taken;
            for frame in batch.drain(..) {
                bytes += frame.len();
                stall_guard(stall_limit, wr.write_all(&frame)).await?;
            }
            if !yielding_pays || round == MAX_YIELDS {
                break;
            }
            tokio::task::yield_now().await;
            taken = queue.take_ready(&mut batch);
            if taken == 0 {
                if round == 0 {
                    yielding_pays = false;
                }
                break;
            }
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
pub(crate) async fn stall_guard<T>(
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
        assert_eq!(q.next_batch(&mut batch).await, Some(1));
        assert_eq!(batch.len(), 1);
        assert_eq!(q.try_push(Bytes::from_static(b"a")), Ok(()));
        assert_eq!(q.try_push(Bytes::from_static(b"b")), Ok(()));
        assert_eq!(q.try_push(Bytes::from_static(b"c")), Err(PushError::Full)); // frames
        assert_eq!(q.len(), (2, 2));
        q.close();
        assert_eq!(q.try_push(Bytes::from_static(b"d")), Err(PushError::Closed));
        batch.clear();
        assert_eq!(
            q.next_batch(&mut batch).await,
            Some(2),
            "queued frames survive close"
        );
        assert_eq!(batch.len(), 2);
        assert_eq!(q.next_batch(&mut batch).await, None);
    }

    fn run(bytes: &'static [u8], frames: usize) -> Run {
        Run {
            bytes: Bytes::from_static(bytes),
            frames,
        }
    }

    #[tokio::test]
    async fn a_run_counts_as_the_frames_it_holds() {
        let q = Outbound::new(4, 100);
        q.push_all(&mut vec![run(b"abc", 3)]).await.unwrap();
        assert_eq!(q.len(), (3, 3));
        assert_eq!(q.try_push(Bytes::from_static(b"d")), Ok(()));
        assert_eq!(q.try_push(Bytes::from_static(b"e")), Err(PushError::Full));
        let mut batch = Vec::new();
        assert_eq!(
            q.next_batch(&mut batch).await,
            Some(4),
            "frames, not entries"
        );
        assert_eq!(batch, [&b"abc"[..], b"d"]);
        // A run larger than the bound still enters an empty queue.
        q.push_all(&mut vec![run(b"123456", 6)]).await.unwrap();
        assert_eq!(q.len(), (6, 6));
    }

    #[tokio::test]
    async fn push_all_keeps_order_and_waits_for_room() {
        let q = std::sync::Arc::new(Outbound::new(2, 100));
        let q2 = q.clone();
        let pusher = tokio::spawn(async move {
            let mut batch: Vec<Run> = (0..5u8)
                .map(|i| Run {
                    bytes: Bytes::from(vec![i]),
                    frames: 1,
                })
                .collect();
            let r = q2.push_all(&mut batch).await;
            (r, batch.len())
        });
        let mut got = Vec::new();
        while got.len() < 5 {
            let mut batch = Vec::new();
            assert!(q.next_batch(&mut batch).await.is_some());
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
        assert_eq!(q.next_batch(&mut batch).await, Some(1));
        assert_eq!(waiter.await.unwrap(), Ok(()));
        assert_eq!(q.len().0, 1);
    }

    /// A sink that records each write it is given (a syscall, for a
    /// socket).
    #[derive(Clone, Default)]
    struct Writes(std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

    impl AsyncWrite for Writes {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.0.lock().unwrap().push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// One frame queued, then another by a task that runs while the
    /// writer is busy with the first: the writes the socket gets.
    async fn writes_for_two_tasks() -> Vec<Vec<u8>> {
        let q = std::sync::Arc::new(Outbound::new(16, 1024));
        let sink = Writes::default();
        let writer = {
            let (q, sink) = (q.clone(), sink.clone());
            tokio::spawn(
                async move { write_loop(&q, sink, Duration::from_secs(5), |_, _| {}).await },
            )
        };
        q.try_push(Bytes::from_static(b"a")).unwrap();
        let q2 = q.clone();
        // Scheduled after the writer (woken by "a"): runs when the writer
        // first yields.
        let second = tokio::spawn(async move { q2.try_push(Bytes::from_static(b"b")) });
        assert_eq!(second.await.unwrap(), Ok(()));
        q.close();
        writer.await.unwrap().unwrap();
        let writes = sink.0.lock().unwrap().clone();
        writes
    }

    #[tokio::test(flavor = "current_thread")]
    async fn after_yield_frames_from_tasks_woken_together_share_a_write() {
        // Flushed as soon as the queue ran dry, "a" would leave alone.
        assert_eq!(writes_for_two_tasks().await, [b"ab".to_vec()]);
    }
}
