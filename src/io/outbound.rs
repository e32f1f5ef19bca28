//! A connection's bounded outbound queue, bounded in frames and bytes,
//! and the one backpressure rule every frame a connection sends goes
//! through ([`Backpressure`]): what a full queue does is named by the
//! sender, never decided by which function it happened to call. The
//! queue is shared by the server and the client; the writer that drains
//! it into the socket is `writer.rs`'s.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{
    AtomicBool,
    Ordering::{AcqRel, Acquire, Release},
};
use std::sync::{Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::proto::connection::Run;

/// What a full queue does with a frame: the one backpressure rule.
/// Which senders use which (changing one is this enum's users and the
/// limits, nothing else):
///
/// | sender | policy |
/// |---|---|
/// | fan-out (notify, broadcast, relayed) | `Limits::slow_consumer`: `Disconnect` (default) or `Drop` |
/// | a server connection's replies | `Wait` (the peer stops being read from) |
/// | a client's requests, sends and handler replies | `Wait` (the caller waits) |
/// | a farewell, pings, logins and other control frames | `Drop` (the connection is closing, or the next keepalive round will tell) |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backpressure {
    /// Close the connection (the queue, and its cancel token): a peer that
    /// cannot keep up would otherwise miss frames silently.
    Disconnect,
    /// Drop the frame and keep the connection.
    Drop,
    /// Wait for room: [`Outbound::push`] hands the frame back to be
    /// waited for with [`Outbound::push_waiting`].
    Wait,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The queue was full: under `Drop` the frame is lost; under `Wait`
    /// it is handed back.
    Full(Option<Bytes>),
    /// The queue was full under `Disconnect`: the connection is closing.
    Disconnected,
    /// The connection is closing.
    Closed,
}

impl From<Bytes> for Run {
    fn from(bytes: Bytes) -> Run {
        Run { bytes, frames: 1 }
    }
}

struct State<M> {
    /// Single frames and runs, in send order.
    frames: VecDeque<Bytes>,
    /// What the writer is to record as it takes the frames queued with
    /// them, in the same order (the client's requests: see
    /// [`Outbound::push_marked`]). Always empty on a server.
    marks: Vec<M>,
    /// Marks the writer took and has not yet said it recorded
    /// ([`Outbound::recorded`]): with `marks`, what is due but not yet
    /// where the writer puts it.
    recording: usize,
    /// Frames queued (a run counts as the frames it holds).
    count: usize,
    bytes: usize,
    closed: bool,
    /// Bytes the connection's reader left in the shared write half for
    /// the writer task to finish (see `writer.rs`).
    handed_over: bool,
}

impl<M> State<M> {
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

/// Starts a connection's writer task (see
/// [`Outbound::start_writer_on_demand`]).
type Starter = Box<dyn FnOnce() + Send>;

pub(crate) struct Outbound<M = ()> {
    state: Mutex<State<M>>,
    /// Wakes the single writer task.
    writer: Notify,
    /// Whether a [`Starter`] waits for the first frame (a load on every
    /// wake-up, the lock only once).
    lazy: AtomicBool,
    starter: Mutex<Option<Starter>>,
    /// Wakes tasks waiting in `push_waiting` for room.
    space: Notify,
    max_frames: usize,
    max_bytes: usize,
    /// Cancelled when [`Backpressure::Disconnect`] closes the connection.
    cancel: CancellationToken,
}

impl<M> Outbound<M> {
    /// A queue of at most `max_frames` frames and `max_bytes` bytes, for a
    /// connection that `cancel` closes.
    pub(crate) fn new(max_frames: usize, max_bytes: usize, cancel: CancellationToken) -> Self {
        Outbound {
            state: Mutex::new(State {
                frames: VecDeque::new(),
                marks: Vec::new(),
                recording: 0,
                count: 0,
                bytes: 0,
                closed: false,
                handed_over: false,
            }),
            writer: Notify::new(),
            lazy: AtomicBool::new(false),
            starter: Mutex::new(None),
            space: Notify::new(),
            max_frames: max_frames.max(1),
            max_bytes,
            cancel,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<M>> {
        crate::sync::lock(&self.state)
    }

    /// Has `start` run at the first frame queued (or handed over) instead
    /// of now: a connection that is never sent anything but replies its
    /// reader writes itself then costs no writer task (its future and the
    /// task around it are most of an idle connection's memory). Dropped
    /// unrun if the queue closes first.
    pub(crate) fn start_writer_on_demand(&self, start: impl FnOnce() + Send + 'static) {
        *crate::sync::lock(&self.starter) = Some(Box::new(start));
        self.lazy.store(true, Release);
    }

    /// Wakes the writer, starting it first if it waits for a frame.
    #[inline]
    fn wake_writer(&self) {
        if self.lazy.load(Acquire) {
            self.start_writer();
        }
        self.writer.notify_one();
    }

    #[cold]
    #[inline(never)]
    fn start_writer(&self) {
        self.lazy.store(false, Release);
        // Taken under the lock, run outside it: two threads racing here
        // start one writer; the loser's notification waits for it.
        let start = crate::sync::lock(&self.starter).take();
        if let Some(start) = start {
            start();
        }
    }

    /// Queues `frame` (a frame, or a [`Run`] of them) if there is room,
    /// without waiting; if not, `policy` decides (see [`Backpressure`]).
    pub(crate) fn push(
        &self,
        frame: impl Into<Run>,
        policy: Backpressure,
    ) -> Result<(), PushError> {
        let Run { bytes, frames } = frame.into();
        match self.enqueue(bytes, frames) {
            Ok(()) => {
                self.wake_writer();
                Ok(())
            }
            Err(None) => Err(PushError::Closed),
            Err(Some(bytes)) => Err(self.refuse(Run { bytes, frames }, policy)),
        }
    }

    /// Queues `bytes` if the queue is open and has room; if not, `None`
    /// (closed) or the bytes back (full). The fan-out's hot path: one
    /// lock, no policy, nothing dropped inside.
    #[inline]
    fn enqueue(&self, bytes: Bytes, frames: usize) -> Result<(), Option<Bytes>> {
        let mut st = self.lock();
        if st.closed {
            return Err(None);
        }
        if !st.fits(frames, bytes.len(), self.max_frames, self.max_bytes) {
            return Err(Some(bytes));
        }
        st.add(bytes, frames);
        Ok(())
    }

    /// What `policy` makes of a frame a full queue refused (kept out of
    /// line: the hot path is the one that fits).
    #[cold]
    fn refuse(&self, run: Run, policy: Backpressure) -> PushError {
        match policy {
            Backpressure::Disconnect => {
                self.close();
                self.cancel.cancel();
                PushError::Disconnected
            }
            Backpressure::Drop => PushError::Full(None),
            Backpressure::Wait => PushError::Full(Some(run.bytes)),
        }
    }

    /// [`Backpressure::Wait`]: queues every run of `batch` in order
    /// (emptying it), waiting for room, with one lock and one writer
    /// wake-up for as many as fit at a time: the replies to a read's worth
    /// of pipelined requests reach the writer together and leave in one
    /// write.
    pub(crate) async fn push_waiting(&self, batch: &mut Vec<Run>) -> Result<(), PushError> {
        let mut sent = 0;
        let result = loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            // Registered before trying, so a wake-up between the try and
            // the await is not lost.
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
            self.wake_writer();
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
        if self.lazy.swap(false, AcqRel) {
            // Never needed: nothing to flush.
            drop(crate::sync::lock(&self.starter).take());
        }
        self.writer.notify_one();
        self.space.notify_waiters();
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
    async fn writer_waits<T>(&self, mut ready: impl FnMut(&mut State<M>) -> Option<T>) -> T {
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
        self.wake_writer();
    }

    /// Moves every queued frame into `out`, and the marks queued with
    /// them into `marks`, without waiting; how many frames.
    pub(crate) fn take_ready(&self, out: &mut Vec<Bytes>, marks: &mut Vec<M>) -> usize {
        let mut st = self.lock();
        let n = st.take(out);
        st.recording += st.marks.len();
        marks.append(&mut st.marks);
        drop(st);
        if n > 0 {
            self.space.notify_waiters();
        }
        n
    }

    /// The writer has put `n` marks it took where they go.
    pub(crate) fn recorded(&self, n: usize) {
        let mut st = self.lock();
        st.recording = st.recording.saturating_sub(n);
    }

    /// Marks queued, or taken by the writer and not yet recorded: looked
    /// at before what the writer records them into, nothing is between
    /// the two.
    pub(crate) fn marks_due(&self) -> usize {
        let st = self.lock();
        st.marks.len() + st.recording
    }

    /// Closes the queue and takes back the marks never taken (the
    /// connection is gone and its writer stopped): their senders are told.
    pub(crate) fn close_and_take_marks(&self) -> Vec<M> {
        let mut st = self.lock();
        st.closed = true;
        let marks = std::mem::take(&mut st.marks);
        drop(st);
        self.writer.notify_one();
        self.space.notify_waiters();
        marks
    }

    /// Queues `frame` with `mark`, which the writer takes together with
    /// it, before writing it: the client's requests go into its pending
    /// table in the order they reach the wire, recorded by the one task
    /// that writes, with no lock held by the caller from choosing an id to
    /// queueing. Under a full queue `policy` decides, as for
    /// [`push`](Self::push); the mark comes back with the error.
    pub(crate) fn push_marked(
        &self,
        frame: Bytes,
        mark: M,
        policy: Backpressure,
    ) -> Result<(), (PushError, M)> {
        let mut st = self.lock();
        if st.closed {
            return Err((PushError::Closed, mark));
        }
        if st.fits(1, frame.len(), self.max_frames, self.max_bytes) {
            st.add(frame, 1);
            st.marks.push(mark);
            drop(st);
            self.wake_writer();
            return Ok(());
        }
        drop(st);
        Err((self.refuse(Run::from(frame), policy), mark))
    }

    /// [`push_marked`](Self::push_marked) under [`Backpressure::Wait`],
    /// waiting for room.
    pub(crate) async fn push_marked_waiting(&self, frame: Bytes, mark: M) -> Result<(), PushError> {
        let (mut frame, mut mark) = (frame, mark);
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            // Registered before trying, so a wake-up between the try and
            // the await is not lost.
            notified.as_mut().enable();
            match self.push_marked(frame, mark, Backpressure::Wait) {
                Ok(()) => return Ok(()),
                Err((PushError::Full(Some(f)), m)) => (frame, mark) = (f, m),
                Err((e, _)) => return Err(e),
            }
            notified.await;
        }
    }

    /// Frames and bytes waiting.
    pub(crate) fn len(&self) -> (usize, usize) {
        let st = self.lock();
        (st.count, st.bytes)
    }
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

    fn queue(max_frames: usize, max_bytes: usize) -> (Outbound, CancellationToken) {
        let cancel = CancellationToken::new();
        (Outbound::new(max_frames, max_bytes, cancel.clone()), cancel)
    }

    /// A starter that counts its runs, and the count.
    fn counting(q: &Outbound) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
        let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let r = runs.clone();
        q.start_writer_on_demand(move || {
            r.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        runs
    }

    fn runs(n: &std::sync::atomic::AtomicUsize) -> usize {
        n.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[test]
    fn the_writer_starts_at_the_first_frame_once() {
        let (q, _) = queue(1, 1024);
        let started = counting(&q);
        assert_eq!(runs(&started), 0, "not before anything is queued");
        assert!(q.push(Bytes::from_static(b"a"), Backpressure::Drop).is_ok());
        assert_eq!(runs(&started), 1);
        let _ = taken(&q);
        q.push(Bytes::from_static(b"b"), Backpressure::Drop)
            .unwrap();
        // Full: refused, and no second start either.
        let _ = q.push(Bytes::from_static(b"c"), Backpressure::Drop);
        assert_eq!(runs(&started), 1);
        q.close();
        assert_eq!(runs(&started), 1);
    }

    #[tokio::test]
    async fn every_way_of_queueing_starts_the_writer() {
        let (q, _) = queue(8, 1024);
        let started = counting(&q);
        q.hand_over();
        assert_eq!(runs(&started), 1, "a handed-over write");
        let (q, _) = queue(8, 1024);
        let started = counting(&q);
        let mut batch = vec![Run::from(Bytes::from_static(b"a"))];
        q.push_waiting(&mut batch).await.unwrap();
        assert_eq!(runs(&started), 1, "a batch of replies");
        let q = Outbound::<u8>::new(8, 1024, CancellationToken::new());
        let started = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let r = started.clone();
        q.start_writer_on_demand(move || {
            r.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        q.push_marked(Bytes::from_static(b"a"), 7, Backpressure::Drop)
            .unwrap();
        assert_eq!(runs(&started), 1, "a marked frame");
    }

    /// Closed before anything was queued: the writer is never started,
    /// and what the starter holds is let go (it holds the write half).
    #[test]
    fn a_queue_closed_first_drops_its_starter_unrun() {
        let (q, _) = queue(8, 1024);
        let held = std::sync::Arc::new(());
        let h = held.clone();
        q.start_writer_on_demand(move || drop(h));
        assert_eq!(std::sync::Arc::strong_count(&held), 2);
        q.close();
        assert_eq!(std::sync::Arc::strong_count(&held), 1, "dropped at close");
        assert!(q
            .push(Bytes::from_static(b"a"), Backpressure::Drop)
            .is_err());
    }

    fn taken(q: &Outbound) -> Vec<Bytes> {
        let mut out = Vec::new();
        q.take_ready(&mut out, &mut Vec::new());
        out
    }

    const B: Backpressure = Backpressure::Drop;

    #[test]
    fn bounds_by_frames_and_bytes_and_close() {
        let (q, _) = queue(2, 10);
        assert_eq!(q.push(Bytes::from_static(&[0; 20]), B), Ok(())); // oversized into empty
        assert_eq!(
            q.push(Bytes::from_static(b"x"), B),
            Err(PushError::Full(None))
        ); // bytes
        assert_eq!(taken(&q).len(), 1);
        assert_eq!(q.push(Bytes::from_static(b"a"), B), Ok(()));
        assert_eq!(q.push(Bytes::from_static(b"b"), B), Ok(()));
        assert_eq!(
            q.push(Bytes::from_static(b"c"), B),
            Err(PushError::Full(None))
        ); // frames
        assert_eq!(q.len(), (2, 2));
        q.close();
        assert_eq!(q.push(Bytes::from_static(b"d"), B), Err(PushError::Closed));
        assert_eq!(taken(&q).len(), 2, "queued frames survive close");
    }

    #[test]
    fn the_policy_decides_what_a_full_queue_does() {
        let (q, cancel) = queue(1, 100);
        q.push(Bytes::from_static(b"first"), Backpressure::Wait)
            .unwrap();
        let e = q.push(Bytes::from_static(b"kept"), Backpressure::Wait);
        assert_eq!(e, Err(PushError::Full(Some(Bytes::from_static(b"kept")))));
        assert!(!cancel.is_cancelled());
        assert_eq!(
            q.push(Bytes::from_static(b"lost"), Backpressure::Drop),
            Err(PushError::Full(None))
        );
        assert!(!cancel.is_cancelled(), "Drop keeps the connection");
        assert_eq!(q.len(), (1, 5));
        let e = q.push(Bytes::from_static(b"x"), Backpressure::Disconnect);
        assert_eq!(e, Err(PushError::Disconnected));
        assert!(cancel.is_cancelled(), "Disconnect closes the connection");
        assert_eq!(
            q.push(Bytes::from_static(b"y"), Backpressure::Wait),
            Err(PushError::Closed)
        );
    }

    fn run(bytes: &'static [u8], frames: usize) -> Run {
        Run {
            bytes: Bytes::from_static(bytes),
            frames,
        }
    }

    #[tokio::test]
    async fn a_run_counts_as_the_frames_it_holds() {
        let (q, _) = queue(4, 100);
        q.push_waiting(&mut vec![run(b"abc", 3)]).await.unwrap();
        assert_eq!(q.len(), (3, 3));
        assert_eq!(q.push(Bytes::from_static(b"d"), B), Ok(()));
        assert_eq!(
            q.push(Bytes::from_static(b"e"), B),
            Err(PushError::Full(None))
        );
        assert_eq!(taken(&q), [&b"abc"[..], b"d"], "frames, not entries");
        // A run larger than the bound still enters an empty queue.
        q.push_waiting(&mut vec![run(b"123456", 6)]).await.unwrap();
        assert_eq!(q.len(), (6, 6));
    }

    #[tokio::test]
    async fn push_waiting_keeps_order_and_waits_for_room() {
        let q = std::sync::Arc::new(queue(2, 100).0);
        let q2 = q.clone();
        let pusher = tokio::spawn(async move {
            let mut batch: Vec<Run> = (0..5u8).map(|i| Bytes::from(vec![i]).into()).collect();
            let r = q2.push_waiting(&mut batch).await;
            (r, batch.len())
        });
        let mut got = Vec::new();
        for _ in 0..1000 {
            if got.len() == 5 {
                break;
            }
            assert!(q.wait_work().await);
            let batch = taken(&q);
            assert!(batch.len() <= 2, "bounded: {}", batch.len());
            got.extend(batch.into_iter().map(|b| b[0]));
        }
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert_eq!(pusher.await.unwrap(), (Ok(()), 0));
    }

    #[tokio::test]
    async fn a_closed_queue_ends_the_wait_for_room() {
        let q = std::sync::Arc::new(queue(1, 100).0);
        q.push(Bytes::from_static(b"first"), B).unwrap();
        let q2 = q.clone();
        let waiter = tokio::spawn(async move {
            q2.push_waiting(&mut vec![Bytes::from_static(b"second").into()])
                .await
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        q.close();
        assert_eq!(waiter.await.unwrap(), Err(PushError::Closed));
        assert!(q.wait_work().await, "what was queued is still to be sent");
        assert_eq!(taken(&q).len(), 1);
        assert!(!q.wait_work().await, "closed and empty");
    }

    #[test]
    fn a_frame_that_brings_the_queue_exactly_to_its_byte_bound_fits() {
        let (q, _) = queue(8, 10);
        assert_eq!(q.push(Bytes::from_static(b"12345"), B), Ok(()));
        assert_eq!(q.push(Bytes::from_static(b"67890"), B), Ok(()), "10 of 10");
        assert_eq!(
            q.push(Bytes::from_static(b"x"), B),
            Err(PushError::Full(None))
        );
    }

    #[test]
    fn marks_travel_with_their_frames_and_come_back_when_refused() {
        let q: Outbound<u8> = Outbound::new(2, 100, CancellationToken::new());
        q.push_marked(Bytes::from_static(b"a"), 1, B).unwrap();
        q.push(Bytes::from_static(b"b"), B).unwrap();
        let refused = q.push_marked(Bytes::from_static(b"c"), 3, Backpressure::Wait);
        assert_eq!(
            refused,
            Err((PushError::Full(Some(Bytes::from_static(b"c"))), 3))
        );
        assert_eq!(q.marks_due(), 1);
        let (mut frames, mut marks) = (Vec::new(), Vec::new());
        assert_eq!(q.take_ready(&mut frames, &mut marks), 2);
        assert_eq!((frames.len(), &marks[..]), (2, &[1][..]));
        assert_eq!(q.marks_due(), 1, "taken, not yet recorded");
        q.recorded(1);
        assert_eq!(q.marks_due(), 0);
        q.push_marked(Bytes::from_static(b"d"), 4, B).unwrap();
        assert_eq!(q.close_and_take_marks(), [4]);
        assert_eq!(
            q.push_marked(Bytes::from_static(b"e"), 5, B),
            Err((PushError::Closed, 5))
        );
    }

    #[tokio::test]
    async fn a_marked_frame_waits_for_room_and_fails_when_the_queue_closes() {
        let q = std::sync::Arc::new(Outbound::<u8>::new(1, 100, CancellationToken::new()));
        q.push(Bytes::from_static(b"a"), B).unwrap();
        let waiting = {
            let q = q.clone();
            tokio::spawn(async move { q.push_marked_waiting(Bytes::from_static(b"b"), 2).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "no room yet");
        let (mut frames, mut marks) = (Vec::new(), Vec::new());
        q.take_ready(&mut frames, &mut marks);
        let queued = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert_eq!(queued.expect("woken by room").unwrap(), Ok(()));
        q.take_ready(&mut frames, &mut marks);
        assert_eq!((frames.len(), &marks[..]), (2, &[2][..]));
        q.push(Bytes::from_static(b"c"), B).unwrap();
        let waiting = {
            let q = q.clone();
            tokio::spawn(async move { q.push_marked_waiting(Bytes::from_static(b"d"), 4).await })
        };
        tokio::task::yield_now().await;
        q.close();
        let closed = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert_eq!(
            closed.expect("woken by close").unwrap(),
            Err(PushError::Closed)
        );
    }
}
