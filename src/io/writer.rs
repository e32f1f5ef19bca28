//! The one writer of a connection, server or client: its socket write
//! half, drained from the outbound queue by the writer task (which may
//! wait for the socket), and, on a server, written by the reader itself
//! when no other write is under way or pending. A request and its reply then cost no
//! wake-up of another task (on a machine with few cores that task competes
//! with the peers for CPU: the bench baseline, one task per connection,
//! never pays it). Whoever writes holds the lock and takes what is queued
//! first, so frames leave in the order they were queued: a handler's own
//! sends before its reply.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

use super::outbound::{stall_guard, Outbound};
use crate::proto::connection::Replies;

/// Frames are copied into the write buffer (one write for many) up to
/// this many bytes; a larger frame is written from its own memory.
const COALESCE: usize = 64 * 1024;

pub(crate) struct Writer<W> {
    sock: Mutex<Sock<W>>,
    /// Whether the writer task yields for more frames before writing (see
    /// [`write_loop`](Self::write_loop)).
    gather: bool,
}

struct Sock<W> {
    io: W,
    /// Bytes taken for the socket and not yet written. Empty but for the
    /// moments a write would block, so an idle connection holds nothing
    /// here beyond the capacity its largest batch needed.
    buf: BytesMut,
}

impl<W: AsyncWrite + Unpin> Sock<W> {
    /// Writes `buf` out, then flushes.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let n = write_now(&mut self.io, cx, &self.buf)?;
        self.buf.advance(n);
        if !self.buf.is_empty() {
            // write_now stops short only where the socket said Pending,
            // which registered `cx` for its readiness.
            return Poll::Pending;
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// [`poll_drain`](Self::poll_drain) as a future, failing with
    /// `TimedOut` if it makes no progress for `limit`.
    async fn drain(&mut self, limit: Duration) -> io::Result<()> {
        stall_guard(limit, std::future::poll_fn(|cx| self.poll_drain(cx))).await
    }

    /// Sends `data` after what `buf` holds, without waiting: written at
    /// once if nothing is ahead of it, the rest kept in `buf`.
    fn send_now(&mut self, cx: &mut Context<'_>, data: &[u8]) -> io::Result<()> {
        let written = if self.buf.is_empty() {
            write_now(&mut self.io, cx, data)?
        } else {
            0
        };
        self.buf.extend_from_slice(&data[written..]);
        Ok(())
    }
}

/// Writes as much of `data` as `io` takes now; how much.
fn write_now<W: AsyncWrite + Unpin>(
    io: &mut W,
    cx: &mut Context<'_>,
    data: &[u8],
) -> io::Result<usize> {
    let mut done = 0;
    while done < data.len() {
        match Pin::new(&mut *io).poll_write(cx, &data[done..]) {
            Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => done += n,
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => break,
        }
    }
    Ok(done)
}

/// What [`Writer::try_send`] did.
#[derive(Debug)]
pub(crate) enum Sent {
    /// Another write is under way or pending: nothing was taken.
    Busy,
    /// Taken for the socket: this many frames and bytes (whatever the
    /// socket did not take at once is left for the writer task).
    Taken(usize, usize),
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    pub(crate) fn new(io: W) -> Self {
        Writer {
            sock: Mutex::new(Sock {
                io,
                buf: BytesMut::new(),
            }),
            gather: true,
        }
    }

    /// Whether the writer task yields to gather frames queued by tasks
    /// woken together (on by default): worth it where many tasks queue one
    /// frame each (a client shared by concurrent requests); a server
    /// connection's replies leave inline and its fan-out frames arrive
    /// already batched by the queue, so there a yield only costs a
    /// scheduler round (measured: docs/bench-run-issue37b.txt).
    pub(crate) fn gather(mut self, yes: bool) -> Self {
        self.gather = yes;
        self
    }

    /// The reader's write, about to wait for the peer: unless another
    /// write is under way or bytes are pending (then it returns
    /// [`Sent::Busy`] and the replies go through the queue, which is also
    /// the back-pressure a peer that does not read asked for), sends what
    /// is queued, then `replies`, without waiting for the socket.
    /// `replies` is emptied when taken; `scratch` is only reused memory.
    pub(crate) async fn try_send(
        &self,
        queue: &Outbound,
        replies: &mut Replies,
        scratch: &mut Vec<Bytes>,
    ) -> io::Result<Sent> {
        let Ok(mut sock) = self.sock.try_lock() else {
            return Ok(Sent::Busy);
        };
        if !sock.buf.is_empty() {
            return Ok(Sent::Busy);
        }
        let mut frames = queue.take_ready(scratch, &mut Vec::new());
        let mut bytes = 0;
        std::future::poll_fn(|cx| {
            for frame in scratch.drain(..) {
                bytes += frame.len();
                sock.send_now(cx, &frame)?;
            }
            for run in replies.runs.drain(..) {
                (frames, bytes) = (frames + run.frames, bytes + run.bytes.len());
                sock.send_now(cx, &run.bytes)?;
            }
            let out_frames = std::mem::take(&mut replies.out_frames);
            (frames, bytes) = (frames + out_frames, bytes + replies.out.len());
            sock.send_now(cx, &replies.out)?;
            replies.out.clear();
            if sock.poll_drain(cx)?.is_pending() {
                // Finished by the writer task, which registers for the
                // socket's readiness when it polls.
                queue.hand_over();
            }
            Poll::Ready(Ok(Sent::Taken(frames, bytes)))
        })
        .await
    }

    /// The writer task: drains `queue` (and what the reader left pending)
    /// into the socket until the queue is closed and empty, then shuts the
    /// write side down. A write that makes no progress for `stall_limit`
    /// fails with `TimedOut`: the peer stopped reading.
    ///
    /// Frames queued one at a time by many tasks (a client shared by
    /// concurrent requests, a fan-out to many connections) would leave one
    /// system call each, since the writer, woken by the first, runs before
    /// the rest are queued: so before writing, it yields to the scheduler
    /// (up to [`MAX_YIELDS`] times) while that finds more. While yielding
    /// finds nothing (one request at a time), it stops yielding until
    /// frames arrive together again: a yield costs a scheduler round.
    pub(crate) async fn write_loop(
        &self,
        queue: &Outbound,
        stall_limit: Duration,
        on_batch: impl FnMut(usize, usize),
    ) -> io::Result<()> {
        self.write_loop_marked(queue, stall_limit, on_batch, |_| {})
            .await
    }

    /// [`write_loop`](Self::write_loop) for a queue whose frames carry
    /// marks ([`Outbound::push_marked`]): `on_marks` gets each batch's, in
    /// queue order, before any frame of the batch is written.
    pub(crate) async fn write_loop_marked<M>(
        &self,
        queue: &Outbound<M>,
        stall_limit: Duration,
        mut on_batch: impl FnMut(usize, usize),
        mut on_marks: impl FnMut(&mut Vec<M>),
    ) -> io::Result<()> {
        let mut batch: Vec<Bytes> = Vec::new();
        let mut marks: Vec<M> = Vec::new();
        let mut yielding_pays = self.gather;
        while queue.wait_work().await {
            let mut sock = self.sock.lock().await;
            let (mut frames, mut bytes) = (0, 0);
            for round in 0..=MAX_YIELDS {
                // Taken under the lock: see the module docs.
                let taken = queue.take_ready(&mut batch, &mut marks);
                if !marks.is_empty() {
                    // Before any of the batch is written: a reply cannot
                    // overtake what it answers.
                    let n = marks.len();
                    on_marks(&mut marks);
                    marks.clear();
                    queue.recorded(n);
                }
                match (round, taken) {
                    // Frames came together: yielding may find more.
                    (0, 2..) => yielding_pays = self.gather,
                    // A yield found nothing: stop yielding for now.
                    (1, 0) => yielding_pays = false,
                    _ => {}
                }
                if taken == 0 {
                    // Nothing more (in round 0: only what the reader
                    // handed over, finished below).
                    break;
                }
                frames += taken;
                for frame in batch.drain(..) {
                    bytes += frame.len();
                    if sock.buf.len() + frame.len() <= COALESCE {
                        sock.buf.extend_from_slice(&frame);
                    } else {
                        sock.drain(stall_limit).await?;
                        stall_guard(stall_limit, sock.io.write_all(&frame)).await?;
                    }
                }
                if !yielding_pays || round == MAX_YIELDS {
                    break;
                }
                tokio::task::yield_now().await;
            }
            sock.drain(stall_limit).await?;
            if frames > 0 {
                on_batch(frames, bytes);
            }
        }
        let mut sock = self.sock.lock().await;
        sock.drain(stall_limit).await?;
        stall_guard(stall_limit, sock.io.shutdown()).await
    }
}

/// How many times a writer yields for more frames before it writes
/// anyway: bounds the delay a steady trickle of frames can add.
const MAX_YIELDS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::outbound::Backpressure;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    fn replies(runs: Vec<(&'static [u8], usize)>, out: &[u8], out_frames: usize) -> Replies {
        Replies {
            out: BytesMut::from(out),
            out_frames,
            runs: runs
                .into_iter()
                .map(|(bytes, frames)| crate::proto::connection::Run {
                    bytes: Bytes::from_static(bytes),
                    frames,
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn queued_frames_leave_before_the_readers_replies() {
        let (wr, mut peer) = tokio::io::duplex(1024);
        let side = Writer::new(wr);
        let q = Outbound::new(16, 1024, Default::default());
        q.push(Bytes::from_static(b"note;"), Backpressure::Drop)
            .unwrap();
        let mut out = replies(vec![(b"r1;", 1)], b"r2;r3;", 2);
        let sent = side.try_send(&q, &mut out, &mut Vec::new()).await.unwrap();
        assert!(matches!(sent, Sent::Taken(4, 14)), "{sent:?}");
        assert!(out.is_empty() && out.out.is_empty());
        assert_eq!(q.len(), (0, 0));
        let mut got = [0; 14];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"note;r1;r2;r3;");
    }

    #[tokio::test]
    async fn what_the_socket_cannot_take_is_finished_by_the_writer_in_order() {
        // Room for 4 bytes until the peer reads.
        let (wr, mut peer) = tokio::io::duplex(4);
        let side = Arc::new(Writer::new(wr));
        let q = Arc::new(Outbound::new(16, 1 << 20, Default::default()));
        let mut out = replies(vec![], b"0123456789", 1);
        let sent = side.try_send(&q, &mut out, &mut Vec::new()).await.unwrap();
        assert!(matches!(sent, Sent::Taken(1, 10)), "{sent:?}");
        // Bytes are pending: the next replies must queue behind them.
        let mut more = replies(vec![], b"x", 1);
        let again = side.try_send(&q, &mut more, &mut Vec::new()).await.unwrap();
        assert!(matches!(again, Sent::Busy), "{again:?}");
        assert_eq!(&more.out[..], b"x", "nothing taken when busy");
        assert_eq!(more.out_frames, 1);
        let writer = {
            let (side, q) = (side.clone(), q.clone());
            tokio::spawn(async move {
                let mut counted = (0, 0);
                let mut empty_batches = 0;
                let r = side
                    .write_loop(&q, Duration::from_secs(5), |f, b| {
                        counted = (counted.0 + f, counted.1 + b);
                        empty_batches += usize::from(f == 0);
                    })
                    .await;
                // Finishing a handed-over write counts no batch (the
                // queue-length histogram would get a false 0).
                assert_eq!(empty_batches, 0);
                (r, counted)
            })
        };
        // With nothing queued, the writer finishes what was handed over.
        let mut first = [0; 10];
        tokio::time::timeout(Duration::from_secs(5), peer.read_exact(&mut first))
            .await
            .expect("handed over")
            .unwrap();
        assert_eq!(&first, b"0123456789");
        // Small, then larger than the coalescing limit, then small.
        let big = Bytes::from(vec![b'B'; COALESCE + 1]);
        q.push(Bytes::from_static(b"ab"), Backpressure::Drop)
            .unwrap();
        q.push(big.clone(), Backpressure::Drop).unwrap();
        q.push(Bytes::from_static(b"cd"), Backpressure::Drop)
            .unwrap();
        q.close();
        let mut got = b"0123456789".to_vec();
        peer.read_to_end(&mut got).await.unwrap();
        let (result, counted) = writer.await.unwrap();
        result.unwrap();
        assert_eq!(counted, (3, big.len() + 4), "the queue's frames only");
        let mut want = b"0123456789ab".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b"cd");
        assert_eq!(got.len(), want.len());
        assert!(got == want, "order kept");
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_reads_stalls_the_writer_into_a_timeout() {
        let (wr, _peer) = tokio::io::duplex(4);
        let side = Writer::new(wr);
        let q = Outbound::new(16, 1024, Default::default());
        q.push(Bytes::from_static(b"more than four"), Backpressure::Drop)
            .unwrap();
        let e = side
            .write_loop(&q, Duration::from_secs(3), |_, _| {})
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }

    /// A sink that records each write it is given (a syscall, for a
    /// socket).
    #[derive(Clone, Default)]
    struct Writes(Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

    impl AsyncWrite for Writes {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.0.lock().unwrap().push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A script of frames queued by the test and by tasks it spawns
    /// (each runs once the test awaits it, after the writer woken before
    /// it): the writes the socket gets.
    async fn writes_for_tasks() -> Vec<Vec<u8>> {
        let q = Arc::new(Outbound::new(16, 1024, Default::default()));
        let sink = Writes::default();
        let writer = {
            let (q, sink) = (q.clone(), sink.clone());
            tokio::spawn(async move {
                Writer::new(sink)
                    .write_loop(&q, Duration::from_secs(5), |_, _| {})
                    .await
            })
        };
        let push = |frame: &'static [u8]| {
            q.push(Bytes::from_static(frame), Backpressure::Drop)
                .unwrap()
        };
        let later = |frame: &'static [u8]| {
            let q = q.clone();
            tokio::spawn(async move { q.push(Bytes::from_static(frame), Backpressure::Drop) })
        };
        let settle = || async {
            for _ in 0..4 * MAX_YIELDS {
                tokio::task::yield_now().await;
            }
        };
        // 1. Yielding starts on: "b", queued while the writer yields,
        //    joins "a".
        push(b"a");
        later(b"b").await.unwrap().unwrap();
        settle().await;
        // 2. Alone: a yield finds nothing, and yielding turns off.
        push(b"c");
        settle().await;
        // 3. So "x" leaves at once, and "y" on its own.
        push(b"x");
        later(b"y").await.unwrap().unwrap();
        settle().await;
        // 4. Two frames taken together turn it back on: "f" joins them.
        push(b"d");
        push(b"e");
        later(b"f").await.unwrap().unwrap();
        settle().await;
        q.close();
        writer.await.unwrap().unwrap();
        let writes = sink.0.lock().unwrap().clone();
        writes
    }

    #[tokio::test(flavor = "current_thread")]
    async fn after_yield_frames_from_tasks_woken_together_share_a_write() {
        let writes = writes_for_tasks().await;
        let writes: Vec<&[u8]> = writes.iter().map(Vec::as_slice).collect();
        assert_eq!(writes, [&b"ab"[..], b"c", b"x", b"y", b"def"]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn frames_queued_together_leave_in_one_write_up_to_64_kib() {
        let q = Arc::new(Outbound::new(16, 1 << 20, Default::default()));
        for _ in 0..3 {
            q.push(Bytes::from(vec![1; 2000]), Backpressure::Drop)
                .unwrap();
        }
        // Larger than 64 KiB (the documented coalescing size, as a
        // literal): written from its own memory, after what was gathered.
        q.push(Bytes::from(vec![2; 64 * 1024 + 1]), Backpressure::Drop)
            .unwrap();
        q.close();
        let sink = Writes::default();
        Writer::new(sink.clone())
            .write_loop(&q, Duration::from_secs(5), |_, _| {})
            .await
            .unwrap();
        let sizes: Vec<usize> = sink.0.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, [6000, 64 * 1024 + 1]);
    }

    /// A socket that logs each write beside the marks' log.
    struct Logged(Arc<std::sync::Mutex<Vec<String>>>);

    impl AsyncWrite for Logged {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let text = String::from_utf8_lossy(buf).into_owned();
            self.0.lock().unwrap().push(format!("write {text}"));
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn marks_are_recorded_in_queue_order_before_their_frames_are_written() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let q: Outbound<u8> = Outbound::new(16, 1024, Default::default());
        q.push_marked(Bytes::from_static(b"a"), 1, Backpressure::Drop)
            .unwrap();
        q.push(Bytes::from_static(b"b"), Backpressure::Drop)
            .unwrap();
        q.push_marked(Bytes::from_static(b"c"), 2, Backpressure::Drop)
            .unwrap();
        q.close();
        let record = |marks: &mut Vec<u8>| {
            // Nothing of the batch is out, and the queue still counts them.
            assert_eq!(q.marks_due(), 2);
            log.lock().unwrap().push(format!("marks {marks:?}"));
        };
        Writer::new(Logged(log.clone()))
            .write_loop_marked(&q, Duration::from_secs(1), |_, _| {}, record)
            .await
            .unwrap();
        assert_eq!(*log.lock().unwrap(), ["marks [1, 2]", "write abc"]);
        assert_eq!(q.marks_due(), 0, "recorded");
    }
}
