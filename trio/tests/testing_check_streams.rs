// Ported from Python Trio's `trio/_tests/test_testing.py`:
// `test_memory_streams_with_generic_tests` and
// `test_lockstep_streams_with_generic_tests` — the conformance suites run on
// trio's own in-memory streams.
//
// Plus what Rust adds: the suites on more combinations (lockstep pairs as
// half-closeable streams with a clogged maker, a `StapledStream` of a memory
// direction and a lockstep direction, borrowed streams), and proof that the suites
// catch broken streams: a `send_all` that is not a checkpoint, a close that does
// not close, an `aclose` that gives up when cancelled, a stream with no conflict
// detection. Also: maker errors and cancellation of the whole check come back as
// errors, not panics.

use std::cell::Cell;
use std::time::Duration;

use trio::StapledStream;
use trio::abc::{AsyncResource, ReceiveStream, SendStream};
use trio::lowlevel::checkpoint;
use trio::testing::{
    LockstepReceiveStream, LockstepSendStream, MemoryReceiveStream, MemorySendStream, StreamMaker,
    check_half_closeable_stream, check_one_way_stream, check_two_way_stream,
    lockstep_stream_one_way_pair, lockstep_stream_pair, memory_stream_one_way_pair,
    memory_stream_pair,
};
use trio::{CancelScope, Error, ErrorKind};

#[trio::test]
async fn memory_streams_with_generic_tests() -> trio::Result<()> {
    // test_memory_streams_with_generic_tests
    check_one_way_stream(&async || Ok(memory_stream_one_way_pair()), None).await?;
    check_half_closeable_stream(&async || Ok(memory_stream_pair()), None).await
}

#[trio::test]
async fn lockstep_streams_with_generic_tests() -> trio::Result<()> {
    // test_lockstep_streams_with_generic_tests
    let one_way = async || Ok(lockstep_stream_one_way_pair());
    check_one_way_stream(&one_way, Some(&one_way)).await?;
    let two_way = async || Ok(lockstep_stream_pair());
    check_two_way_stream(&two_way, Some(&two_way)).await
}

#[trio::test]
async fn lockstep_pair_passes_the_half_closeable_suite_with_a_clogged_maker() -> trio::Result<()> {
    // Rust-side: a stapled lockstep pair is half-closeable here (its send half
    // ends the direction under the send conflict detector), so it also passes
    // the clogged half-close checks (send_eof during a blocked send is busy).
    let two_way = async || Ok(lockstep_stream_pair());
    check_half_closeable_stream(&two_way, Some(&two_way)).await
}

type Mixed = StapledStream<MemorySendStream, LockstepReceiveStream>;
type MixedPeer = StapledStream<LockstepSendStream, MemoryReceiveStream>;

/// A two-way pair whose directions differ: memory one way, lockstep the other.
fn mixed_pair() -> (Mixed, MixedPeer) {
    let (ms, mr) = memory_stream_one_way_pair();
    let (ls, lr) = lockstep_stream_one_way_pair();
    (StapledStream::new(ms, lr), StapledStream::new(ls, mr))
}

#[trio::test]
async fn stapled_stream_of_different_halves_passes_the_suite() -> trio::Result<()> {
    // Rust-side: StapledStream with two different stream types, checked as a
    // half-closeable stream.
    check_half_closeable_stream(&async || Ok(mixed_pair()), None).await
}

#[trio::test]
async fn borrowed_streams_pass_the_suite() -> trio::Result<()> {
    // Rust-side: `&S` is a stream too (abc's forwarding impls), and the makers may
    // borrow: here each pair is carved out of a longer-lived vector.
    let pairs: Vec<_> = (0..32).map(|_| memory_stream_pair()).collect();
    let next = Cell::new(0);
    let maker = async || {
        let i = next.get();
        next.set(i + 1);
        let (a, b) = &pairs[i];
        Ok((a, b))
    };
    check_half_closeable_stream(&maker, None).await?;
    assert!(next.get() > 1, "the suite asks for fresh pairs");
    Ok(())
}

#[trio::test]
async fn maker_errors_are_returned() {
    // Rust-side: the maker's error is the check's error (not a panic).
    let maker = async || -> trio::Result<(MemorySendStream, MemoryReceiveStream)> {
        Err(Error::new(ErrorKind::Other, "cannot connect"))
    };
    let e = check_one_way_stream(&maker, None).await.unwrap_err();
    assert_eq!(e.message(), Some("cannot connect"));
}

#[trio::test]
async fn a_cancelled_check_reports_the_cancellation() -> trio::Result<()> {
    // Rust-side: a check cancelled from outside stops with Cancelled, which its
    // scope absorbs, rather than panicking about the stream.
    let scope = CancelScope::new();
    scope.cancel();
    let r = scope
        .run(check_two_way_stream(
            &async || Ok(memory_stream_pair()),
            None,
        ))
        .await?;
    assert_eq!(r, None);
    assert!(scope.cancelled_caught());
    Ok(())
}

#[trio::test(autojump)]
async fn a_check_fits_in_a_timeout() -> trio::Result<()> {
    // Rust-side: the suggested guard against hangs does not get in the way.
    trio::fail_after(
        Duration::from_secs(10),
        check_half_closeable_stream(&async || Ok(memory_stream_pair()), None),
    )
    .await
}

#[trio::test]
async fn stream_makers_can_be_used_directly() -> trio::Result<()> {
    let maker = async || Ok(memory_stream_pair());
    let as_dyn: &dyn StreamMaker<_, _> = &maker;
    let (a, b) = as_dyn.make().await?;
    a.send_all(b"hi").await?;
    let mut buf = [0u8; 2];
    assert_eq!(b.receive_some(&mut buf).await?, 2);
    Ok(())
}

// ----- broken streams: the suites must catch them -----

/// A send stream that writes straight into a memory receive stream. Correct,
/// except that `send_all` never yields when `YIELDS` is false.
struct DirectSend<const YIELDS: bool> {
    peer: MemoryReceiveStream,
    closed: Cell<bool>,
}

impl<const YIELDS: bool> AsyncResource for DirectSend<YIELDS> {
    async fn aclose(&self) -> trio::Result<()> {
        self.closed.set(true);
        self.peer.put_eof();
        checkpoint().await
    }
}

impl<const YIELDS: bool> SendStream for DirectSend<YIELDS> {
    async fn send_all(&self, data: &[u8]) -> trio::Result<()> {
        if YIELDS {
            checkpoint().await?;
        }
        if self.closed.get() {
            return Err(Error::new(ErrorKind::ClosedResource, "closed"));
        }
        self.peer
            .put_data(data)
            .map_err(|_| Error::new(ErrorKind::BrokenResource, "peer closed"))
    }

    async fn wait_send_all_might_not_block(&self) -> trio::Result<()> {
        checkpoint().await?;
        if self.closed.get() {
            return Err(Error::new(ErrorKind::ClosedResource, "closed"));
        }
        Ok(())
    }
}

fn direct_pair<const YIELDS: bool>() -> (DirectSend<YIELDS>, MemoryReceiveStream) {
    let r = MemoryReceiveStream::new();
    (
        DirectSend {
            peer: r.clone(),
            closed: Cell::new(false),
        },
        r,
    )
}

#[trio::test]
async fn the_direct_stream_is_fine_when_it_yields() -> trio::Result<()> {
    // The control for the next test: the same stream, with its checkpoint, passes.
    check_one_way_stream(&async || Ok(direct_pair::<true>()), None).await
}

#[trio::test]
#[should_panic(expected = "send_all: returned without a checkpoint")]
async fn a_send_all_that_is_not_a_checkpoint_fails() {
    let _ = check_one_way_stream(&async || Ok(direct_pair::<false>()), None).await;
}

/// Wraps a memory send stream, but its `aclose` forgets to close.
struct ForgetfulClose(MemorySendStream);

impl AsyncResource for ForgetfulClose {
    async fn aclose(&self) -> trio::Result<()> {
        checkpoint().await
    }
}

impl SendStream for ForgetfulClose {
    async fn send_all(&self, data: &[u8]) -> trio::Result<()> {
        self.0.send_all(data).await
    }
    async fn wait_send_all_might_not_block(&self) -> trio::Result<()> {
        self.0.wait_send_all_might_not_block().await
    }
}

#[trio::test]
#[should_panic(expected = "send_all after aclose: expected ClosedResource")]
async fn a_close_that_does_not_close_fails() {
    let maker = async || {
        let (s, r) = memory_stream_one_way_pair();
        Ok((ForgetfulClose(s), r))
    };
    let _ = check_one_way_stream(&maker, None).await;
}

/// Wraps a memory receive stream, but its `aclose` gives up when cancelled
/// (breaking "aclose always closes").
struct CancelUnsafeClose(MemoryReceiveStream);

impl AsyncResource for CancelUnsafeClose {
    async fn aclose(&self) -> trio::Result<()> {
        checkpoint().await?;
        self.0.aclose().await
    }
}

impl ReceiveStream for CancelUnsafeClose {
    async fn receive_some(&self, buf: &mut [u8]) -> trio::Result<usize> {
        self.0.receive_some(buf).await
    }
}

#[trio::test]
#[should_panic(
    expected = "send_all after the receive stream was closed forcefully: kept succeeding"
)]
async fn an_aclose_that_gives_up_when_cancelled_fails() {
    // The first check to notice: `aclose_forcefully` (a cancelled `aclose`) left
    // the receiver open, so the sender never breaks.
    let maker = async || {
        let (s, r) = memory_stream_one_way_pair();
        Ok((s, CancelUnsafeClose(r)))
    };
    let _ = check_one_way_stream(&maker, None).await;
}

/// Wraps a lockstep send stream, minus conflict detection: a second concurrent
/// `send_all` waits for the first instead of failing with BusyResource.
struct Queueing {
    inner: LockstepSendStream,
    lock: trio::sync::Lock,
}

impl AsyncResource for Queueing {
    async fn aclose(&self) -> trio::Result<()> {
        self.inner.aclose().await
    }
}

impl SendStream for Queueing {
    async fn send_all(&self, data: &[u8]) -> trio::Result<()> {
        let _g = self.lock.lock().await?;
        self.inner.send_all(data).await
    }
    async fn wait_send_all_might_not_block(&self) -> trio::Result<()> {
        let _g = self.lock.lock().await?;
        self.inner.wait_send_all_might_not_block().await
    }
}

#[trio::test(autojump)]
async fn a_stream_without_conflict_detection_fails_the_clogged_checks() {
    // Without conflict detection, two concurrent waiters both just wait: the
    // BusyResource check hangs, and the timeout we wrap the suite in reports it.
    let maker = async || {
        let (s, r) = lockstep_stream_one_way_pair();
        let s = Queueing {
            inner: s,
            lock: trio::sync::Lock::new(),
        };
        Ok((s, r))
    };
    let e = trio::fail_after(
        Duration::from_secs(60),
        check_one_way_stream(&maker, Some(&maker)),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooSlow);
    // Without the clogged maker the suite cannot see the difference.
    check_one_way_stream(&maker, None).await.unwrap();
}
