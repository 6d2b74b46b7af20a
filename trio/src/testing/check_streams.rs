//! Conformance suites for stream implementations (Trio's
//! `trio.testing.check_one_way_stream`, `check_two_way_stream` and
//! `check_half_closeable_stream`).
//!
//! # What they are for
//!
//! The [`abc`](crate::abc) stream contract is short to state and easy to get
//! subtly wrong: closing must wake your own blocked operations with
//! `ClosedResource` but the peer's with end of stream or `BrokenResource`; a
//! cancelled `aclose` must still close; two tasks sending at once must get
//! `BusyResource` rather than interleaved bytes; every operation must be a
//! checkpoint. Anyone who writes a stream — a TLS layer, a compression wrapper, a
//! pipe, a test double — needs the same few dozen checks. These functions are
//! those checks, written once, generic over the traits, so you run them on your
//! own stream in one line:
//!
//! ```
//! # trio::run(async {
//! let maker = async || Ok(trio::testing::memory_stream_pair());
//! trio::testing::check_half_closeable_stream(&maker, None).await?;
//! # Ok(()) }).unwrap();
//! ```
//!
//! # Why they are shaped this way
//!
//! * **Makers, not streams.** Many checks close a stream, and closing cannot be
//!   undone, so the suites ask for a *stream maker* — an `async` closure returning a
//!   fresh connected pair — and call it once per group of checks. The optional
//!   *clogged* maker returns a pair whose `send_all` and
//!   `wait_send_all_might_not_block` block until the other end receives (for
//!   example a [`lockstep_stream_pair`](super::lockstep_stream_pair)); only with
//!   one can the suites check how blocked senders behave.
//! * **`&dyn StreamMaker`.** Makers are passed as `&dyn` [`StreamMaker`], which
//!   every `async` closure returning `Result<(A, B)>` is. That lets "no clogged
//!   maker" be a plain `None`, and lets the two-way suite flip a maker around
//!   without naming closure types.
//! * **Violations panic, cancellations propagate.** A stream that breaks the
//!   contract fails the calling test with a panic naming the broken rule (as
//!   `assert!` does, and as Trio raises `AssertionError`). A failing stream maker,
//!   a failing forced close, or a cancellation of the whole check (say, by a
//!   [`fail_after`](crate::fail_after) you wrapped it in — a good idea, since a
//!   stream that never wakes a blocked task makes a check hang) comes back as an
//!   `Err`.
//! * **Checkpoints are counted, not guessed.** Where Trio wraps a call in
//!   `assert_checkpoints`, the suites count the task's trips through the scheduler
//!   with an [`Instrument`](crate::lowlevel::Instrument): a call that succeeds
//!   without yielding fails the check. (Trio also counts cancellation checks; the
//!   run loop does not expose that count, so only the schedule-point half is
//!   checked. Failed calls are not checked, as in Trio.)
//!
//! What Trio checks that does not apply here: `send_all` accepting `bytearray` and
//! `memoryview`, and `receive_some` rejecting negative or fractional sizes or
//! accepting a missing one — Rust's types settle those. The remaining argument
//! check is kept: `receive_some` with an empty buffer must fail with
//! [`InvalidInput`](crate::ErrorKind::InvalidInput), and "read everything" becomes "read into a
//! large buffer".

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::abc::{
    AsyncResource, HalfCloseableStream, ReceiveStream, SendStream, Stream, aclose_forcefully,
};
use crate::error::{ErrorKind, Result};
use crate::testing::wait_all_tasks_blocked;
use crate::{CancelScope, open_nursery};

/// Something that makes a fresh, connected pair of streams for a conformance
/// check: every `async` closure (or `async fn`) returning `Result<(A, B)>` is one.
///
/// The check suites take makers as `&dyn StreamMaker<A, B>`, so "no maker" can be
/// a plain `None`.
///
/// # Examples
///
/// ```
/// use trio::testing::{StreamMaker, memory_stream_one_way_pair};
/// # trio::run(async {
/// let maker = async || Ok(memory_stream_one_way_pair());
/// let as_dyn: &dyn StreamMaker<_, _> = &maker;
/// let (_s, _r) = as_dyn.make().await?;
/// # Ok(()) }).unwrap();
/// ```
pub trait StreamMaker<A, B> {
    /// Makes a new pair: `(the sending or first end, the receiving or second end)`.
    ///
    /// # Errors
    ///
    /// Whatever making the streams may fail with.
    ///
    /// # Examples
    ///
    /// ```
    /// use trio::testing::StreamMaker;
    /// # trio::run(async {
    /// let maker = async || Ok(trio::testing::lockstep_stream_pair());
    /// let (_a, _b) = maker.make().await?;
    /// # Ok(()) }).unwrap();
    /// ```
    #[allow(clippy::type_complexity)]
    fn make(&self) -> Pin<Box<dyn Future<Output = Result<(A, B)>> + '_>>;
}

impl<A, B, F> StreamMaker<A, B> for F
where
    F: AsyncFn() -> Result<(A, B)>,
{
    fn make(&self) -> Pin<Box<dyn Future<Output = Result<(A, B)>> + '_>> {
        Box::pin(self())
    }
}

/// A maker whose pairs come out the other way round.
struct Flipped<'a, A, B>(&'a dyn StreamMaker<A, B>);

impl<A, B> StreamMaker<B, A> for Flipped<'_, A, B> {
    fn make(&self) -> Pin<Box<dyn Future<Output = Result<(B, A)>> + '_>> {
        Box::pin(async move {
            let (a, b) = self.0.make().await?;
            Ok((b, a))
        })
    }
}

// ---------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------

/// Makes the failure message of a broken rule.
#[track_caller]
fn violation(what: &str, detail: fmt::Arguments<'_>) -> ! {
    panic!("stream check failed: {what}: {detail}")
}

/// `Ok` passes; a cancellation propagates (it is the caller's, not a violation);
/// any other error is a violation.
#[track_caller]
fn expect_success<T>(what: &str, r: Result<T>) -> Result<T> {
    match r {
        Ok(v) => Ok(v),
        Err(e) if e.is_cancelled() => Err(e),
        Err(e) => violation(what, format_args!("expected success, got error: {e}")),
    }
}

/// An error of `kind` passes; a cancellation propagates; anything else is a
/// violation.
#[track_caller]
fn expect_error<T: fmt::Debug>(what: &str, r: Result<T>, kind: ErrorKind) -> Result<()> {
    match r {
        Err(e) if e.kind() == kind => Ok(()),
        Err(e) if e.is_cancelled() => Err(e),
        Err(e) => violation(what, format_args!("expected {kind:?}, got error: {e}")),
        Ok(v) => violation(what, format_args!("expected {kind:?}, got Ok({v:?})")),
    }
}

/// Like [`expect_error`], for the result of a nursery (Trio's
/// `_assert_raises(..., wrapped=True)`): the error must be one of `kind`, alone or
/// with cancellations in a group.
#[track_caller]
fn expect_nursery_error<T>(what: &str, r: Result<T>, kind: ErrorKind) -> Result<()> {
    let e = match r {
        Ok(_) => violation(
            what,
            format_args!("expected {kind:?}, but all tasks succeeded"),
        ),
        Err(e) if e.is_cancelled() => return Err(e),
        Err(e) => e,
    };
    let ok = if e.kind() == ErrorKind::Group {
        let mut rest = e.errors().iter().filter(|e| !e.is_cancelled());
        matches!((rest.next(), rest.next()), (Some(only), None) if only.kind() == kind)
    } else {
        e.kind() == kind
    };
    if !ok {
        violation(what, format_args!("expected one {kind:?}, got error: {e}"));
    }
    Ok(())
}

/// Trio's `assert_checkpoints` (its schedule-point half): runs `fut`, and if it
/// succeeds, requires that it yielded to the scheduler at least once.
#[track_caller]
fn checkpointed<'a, T: 'a>(
    what: &'a str,
    fut: impl Future<Output = Result<T>> + 'a,
) -> impl Future<Output = Result<T>> + 'a {
    let caller = std::panic::Location::caller();
    async move {
        let (out, steps) = super::checkpoints::count_schedule_points(fut).await;
        if out.is_ok() && steps == 0 {
            panic!(
                "stream check failed: {what}: returned without a checkpoint (it never \
                 yielded to the scheduler; every stream operation must) [{caller}]"
            );
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Checked operations
// ---------------------------------------------------------------------------

async fn do_send_all<S: SendStream + ?Sized>(s: &S, data: &[u8]) -> Result<()> {
    checkpointed("send_all", s.send_all(data)).await
}

async fn do_receive_some<R: ReceiveStream + ?Sized>(r: &R, max: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; max];
    let n = checkpointed("receive_some", r.receive_some(&mut buf)).await?;
    if n > max {
        violation(
            "receive_some",
            format_args!("returned {n} bytes for a buffer of {max}"),
        );
    }
    buf.truncate(n);
    Ok(buf)
}

async fn checked_receive_1<R: ReceiveStream + ?Sized>(r: &R, expected: &[u8]) -> Result<()> {
    let got = expect_success("receive_some(1 byte)", do_receive_some(r, 1).await)?;
    if got != expected {
        violation(
            "receive_some(1 byte)",
            format_args!("expected {expected:?}, got {got:?}"),
        );
    }
    Ok(())
}

async fn do_aclose<T: AsyncResource + ?Sized>(resource: &T) -> Result<()> {
    checkpointed("aclose", resource.aclose()).await
}

/// Trio's `_ForceCloseBoth`: closes both ends at the end of a group of checks.
async fn force_close_both<A: AsyncResource, B: AsyncResource>(a: &A, b: &B) -> Result<()> {
    let first = aclose_forcefully(a).await;
    let second = aclose_forcefully(b).await;
    first.and(second)
}

fn bytes(n: usize) -> Vec<u8> {
    vec![b'x'; n]
}

/// How much a send stream may still accept after its receiver closed before the
/// suites call it broken. Trio says "eventually" and loops forever; a bound turns a
/// stream that never notices into a clear failure instead of a hang that eats
/// memory. Real streams notice long before: kernel socket buffers are a few MiB.
const BROKEN_AFTER_AT_MOST: usize = 16 << 20;

/// Sends 100-byte chunks until `send_all` fails, which must be with
/// `BrokenResource` (Trio: "closing the r side leads to BrokenResourceError on the
/// s side (eventually)").
async fn send_until_broken<S: SendStream + ?Sized>(s: &S, what: &str) -> Result<()> {
    let chunk = bytes(100);
    let mut sent = 0;
    loop {
        match do_send_all(s, &chunk).await {
            Ok(()) if sent < BROKEN_AFTER_AT_MOST => sent += chunk.len(),
            Ok(()) => violation(
                what,
                format_args!(
                    "kept succeeding for {sent} bytes after the receive stream was closed \
                     (expected BrokenResource)"
                ),
            ),
            r => return expect_error(what, r, ErrorKind::BrokenResource),
        }
    }
}

// ---------------------------------------------------------------------------
// check_one_way_stream
// ---------------------------------------------------------------------------

/// Runs Trio's generic checks on a one-way stream implementation (Trio's
/// `check_one_way_stream`), panicking with a description of the first broken rule.
///
/// `stream_maker` makes a fresh connected `(send, receive)` pair; the suite calls
/// it several times. `clogged_stream_maker`, if given, makes a pair whose
/// `send_all` and `wait_send_all_might_not_block` block until `receive_some` is
/// called (a [`lockstep_stream_one_way_pair`](super::lockstep_stream_one_way_pair),
/// or your stream with its buffers filled); with it the suite also checks blocked
/// senders: that `wait_send_all_might_not_block` wakes when the receiver starts,
/// that concurrent senders get `BusyResource`, and that closing wakes them.
///
/// Checked: sending and receiving (also empty sends); `receive_some` with an empty
/// buffer fails with `InvalidInput`; concurrent `receive_some` calls get `BusyResource`;
/// after the receiver closes, sends fail with `BrokenResource` (eventually, and
/// then always); after closing, this end's operations fail with `ClosedResource`
/// and closing again is fine; a graceful close delivers the data and then end of
/// stream; a forceful close of the sender gives the receiver end of stream or
/// `BrokenResource`, never data or a hang; a cancelled `aclose` still closes; a
/// stream can be closed gracefully after cancelled operations; closing wakes a
/// blocked `receive_some`; every successful operation is a checkpoint.
///
/// # Errors
///
/// An error of a maker or of a forced close, or `Cancelled` if the check itself
/// was cancelled.
///
/// # Panics
///
/// When the stream breaks the contract. A stream that fails to wake a blocked task
/// can make a check hang instead: wrap the call in [`fail_after`](crate::fail_after)
/// to turn that into an error.
///
/// # Cancellation
///
/// A checkpoint; a cancelled check stops where it was.
///
/// # Examples
///
/// ```
/// use trio::testing::{check_one_way_stream, lockstep_stream_one_way_pair, memory_stream_one_way_pair};
/// # trio::run(async {
/// check_one_way_stream(&async || Ok(memory_stream_one_way_pair()), None).await?;
///
/// let lockstep = async || Ok(lockstep_stream_one_way_pair());
/// check_one_way_stream(&lockstep, Some(&lockstep)).await?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn check_one_way_stream<S, R>(
    stream_maker: &dyn StreamMaker<S, R>,
    clogged_stream_maker: Option<&dyn StreamMaker<S, R>>,
) -> Result<()>
where
    S: SendStream,
    R: ReceiveStream,
{
    let (s, r) = stream_maker.make().await?;
    basic_one_way_checks(&s, &r).await?;
    force_close_both(&s, &r).await?;

    // If send-then-graceful-close, the receiver gets the data, then end of stream.
    let (s, r) = stream_maker.make().await?;
    {
        let (s, r) = (&s, &r);
        let result = open_nursery(async |n| {
            n.start_soon(async move {
                expect_success("send_all(b\"y\")", do_send_all(s, b"y").await)?;
                expect_success("aclose of the send stream", do_aclose(s).await)
            })?;
            n.start_soon(async move {
                // Some streams block in send_all: let the sender get as far as it can,
                // then receive.
                wait_all_tasks_blocked().await?;
                checked_receive_1(r, b"y").await?;
                checked_receive_1(r, b"").await?;
                expect_success("aclose of the receive stream", do_aclose(r).await)
            })?;
            Ok(())
        })
        .await;
        expect_success("send, graceful close, receive", result)?;
    }
    force_close_both(&s, &r).await?;

    // Closing the receiver forcefully breaks the sender.
    let (s, r) = stream_maker.make().await?;
    aclose_forcefully(&r).await?;
    send_until_broken(
        &s,
        "send_all after the receive stream was closed forcefully",
    )
    .await?;
    expect_error(
        "receive_some on a receive stream closed forcefully",
        do_receive_some(&r, 4096).await,
        ErrorKind::ClosedResource,
    )?;
    force_close_both(&s, &r).await?;

    // Closing the sender forcefully: the receiver sees end of stream or a broken
    // stream, never data, never a hang.
    let (s, r) = stream_maker.make().await?;
    aclose_forcefully(&s).await?;
    expect_error(
        "send_all on a send stream closed forcefully",
        do_send_all(&s, b"123").await,
        ErrorKind::ClosedResource,
    )?;
    match do_receive_some(&r, 1).await {
        Err(e) if e.kind() == ErrorKind::BrokenResource => {}
        other => checked_receive_1_result(other)?,
    }
    force_close_both(&s, &r).await?;

    // A cancelled aclose still closes.
    let (s, r) = stream_maker.make().await?;
    {
        let scope = CancelScope::new();
        scope.cancel();
        expect_success("cancelled aclose", scope.run(r.aclose()).await)?;
        let scope = CancelScope::new();
        scope.cancel();
        expect_success("cancelled aclose", scope.run(s.aclose()).await)?;
        expect_error(
            "send_all after a cancelled aclose",
            do_send_all(&s, b"123").await,
            ErrorKind::ClosedResource,
        )?;
        expect_error(
            "receive_some after a cancelled aclose",
            do_receive_some(&r, 4096).await,
            ErrorKind::ClosedResource,
        )?;
    }
    force_close_both(&s, &r).await?;

    // A stream can still be closed gracefully after operations were cancelled.
    let (s, r) = stream_maker.make().await?;
    {
        let (s, r) = (&s, &r);
        let scope = CancelScope::new();
        scope.cancel();
        let result = scope
            .run(open_nursery(async |n| {
                n.start_soon(async move {
                    expect_cancelled("send_all in a cancelled scope", do_send_all(s, b"x").await)
                })?;
                n.start_soon(async move {
                    expect_cancelled(
                        "receive_some in a cancelled scope",
                        do_receive_some(r, 1).await,
                    )
                })?;
                Ok(())
            }))
            .await;
        expect_success("operations in a cancelled scope", result)?;
        let result = open_nursery(async |n| {
            n.start_soon(async move {
                expect_success("aclose after a cancelled send_all", do_aclose(s).await)
            })?;
            n.start_soon(async move {
                expect_success("aclose after a cancelled receive_some", do_aclose(r).await)
            })?;
            Ok(())
        })
        .await;
        expect_success("closing after cancelled operations", result)?;
    }
    force_close_both(&s, &r).await?;

    // Closing the receive stream wakes a task blocked in receive_some.
    let (s, r) = stream_maker.make().await?;
    {
        let r = &r;
        let result = open_nursery(async |n| {
            n.start_soon(async move {
                let mut buf = [0u8; 10];
                expect_error(
                    "receive_some blocked while its own stream is closed",
                    r.receive_some(&mut buf).await,
                    ErrorKind::ClosedResource,
                )
            })?;
            wait_all_tasks_blocked().await?;
            aclose_forcefully(r).await
        })
        .await;
        expect_success("closing a receive stream with a blocked receiver", result)?;
    }
    force_close_both(&s, &r).await?;

    if let Some(clogged) = clogged_stream_maker {
        clogged_one_way_checks(clogged).await?;
    }
    Ok(())
}

/// The end of Trio's "either is OK" receive after a forced close: only a clean
/// end of stream may remain.
fn checked_receive_1_result(r: Result<Vec<u8>>) -> Result<()> {
    let what = "receive_some after the send stream was closed forcefully";
    let got = expect_success(what, r)?;
    if !got.is_empty() {
        violation(
            what,
            format_args!("expected end of stream or BrokenResource, got data {got:?}"),
        );
    }
    Ok(())
}

fn expect_cancelled<T: fmt::Debug>(what: &str, r: Result<T>) -> Result<()> {
    match r {
        Err(e) if e.is_cancelled() => Ok(()),
        Err(e) => violation(what, format_args!("expected Cancelled, got error: {e}")),
        Ok(v) => violation(what, format_args!("expected Cancelled, got Ok({v:?})")),
    }
}

/// The first group of Trio's one-way checks, all on one pair.
async fn basic_one_way_checks<S: SendStream, R: ReceiveStream>(s: &S, r: &R) -> Result<()> {
    // Simple sending and receiving.
    let result = open_nursery(async |n| {
        n.start_soon(
            async move { expect_success("send_all(b\"x\")", do_send_all(s, b"x").await) },
        )?;
        n.start_soon(checked_receive_1(r, b"x"))?;
        Ok(())
    })
    .await;
    expect_success("send and receive one byte", result)?;

    // Sending b"" has no special meaning.
    let result = open_nursery(async |n| {
        n.start_soon(async move {
            expect_success("send_all(b\"\")", do_send_all(s, b"").await)?;
            expect_success(
                "send_all(b\"y\") after send_all(b\"\")",
                do_send_all(s, b"y").await,
            )
        })?;
        n.start_soon(checked_receive_1(r, b"y"))?;
        Ok(())
    })
    .await;
    expect_success("send nothing, then one byte", result)?;

    // The buffer must have room for at least one byte.
    expect_error(
        "receive_some with an empty buffer",
        r.receive_some(&mut []).await,
        ErrorKind::InvalidInput,
    )?;

    // A large buffer takes whatever is there (Trio's max_bytes=None).
    let result = open_nursery(async |n| {
        n.start_soon(
            async move { expect_success("send_all(b\"x\")", do_send_all(s, b"x").await) },
        )?;
        let got = expect_success(
            "receive_some into a large buffer",
            do_receive_some(r, 65536).await,
        )?;
        if got != b"x" {
            violation(
                "receive_some into a large buffer",
                format_args!("expected b\"x\", got {got:?}"),
            );
        }
        Ok(())
    })
    .await;
    expect_success("receive into a large buffer", result)?;

    // Two tasks receiving at once: BusyResource.
    let result = open_nursery(async |n| {
        for _ in 0..2 {
            n.start_soon(async move { do_receive_some(r, 1).await.map(drop) })?;
        }
        Ok(())
    })
    .await;
    expect_nursery_error(
        "two tasks in receive_some at once",
        result,
        ErrorKind::BusyResource,
    )?;

    // An empty stream with a blocked receive_some must allow send_all
    // (wait_send_all_might_not_block returns).
    let result = open_nursery(async |n| {
        let scope = n.cancel_scope();
        n.start_soon(async move {
            expect_success(
                "wait_send_all_might_not_block while a receiver waits",
                checkpointed(
                    "wait_send_all_might_not_block",
                    s.wait_send_all_might_not_block(),
                )
                .await,
            )?;
            scope.cancel();
            Ok(())
        })?;
        n.start_soon(async move {
            expect_success(
                "receive_some with nothing sent",
                do_receive_some(r, 1).await,
            )
            .map(drop)
        })?;
        Ok(())
    })
    .await;
    expect_success("wait_send_all_might_not_block on an empty stream", result)?;

    // Closing the receive side leads to BrokenResource on the send side
    // (eventually).
    let result = open_nursery(async |n| {
        n.start_soon(send_until_broken(
            s,
            "send_all while the receive stream is closed",
        ))?;
        n.start_soon(
            async move { expect_success("aclose of the receive stream", do_aclose(r).await) },
        )?;
        Ok(())
    })
    .await;
    expect_success("closing the receiver while sending", result)?;

    // Once detected, the stream stays broken.
    expect_error(
        "send_all after the stream broke",
        do_send_all(s, &bytes(100)).await,
        ErrorKind::BrokenResource,
    )?;
    // The closed receive side says ClosedResource.
    expect_error(
        "receive_some after aclose",
        do_receive_some(r, 4096).await,
        ErrorKind::ClosedResource,
    )?;
    // Closing again is fine.
    expect_success("second aclose of the receive stream", do_aclose(r).await)?;
    expect_success("third aclose of the receive stream", do_aclose(r).await)?;

    // Closing the send side.
    expect_success("aclose of the send stream", do_aclose(s).await)?;
    expect_error(
        "send_all after aclose",
        do_send_all(s, &bytes(100)).await,
        ErrorKind::ClosedResource,
    )?;
    expect_error(
        "send_all(b\"\") after aclose",
        do_send_all(s, b"").await,
        ErrorKind::ClosedResource,
    )?;
    expect_error(
        "wait_send_all_might_not_block after aclose",
        checkpointed(
            "wait_send_all_might_not_block",
            s.wait_send_all_might_not_block(),
        )
        .await,
        ErrorKind::ClosedResource,
    )?;
    expect_success("second aclose of the send stream", do_aclose(s).await)?;
    expect_success("third aclose of the send stream", do_aclose(s).await)?;
    Ok(())
}

/// Trio's checks that need a clogged stream.
async fn clogged_one_way_checks<S: SendStream, R: ReceiveStream>(
    clogged_stream_maker: &dyn StreamMaker<S, R>,
) -> Result<()> {
    // wait_send_all_might_not_block wakes when a receiver starts.
    let (s, r) = clogged_stream_maker.make().await?;
    {
        let record = RefCell::new(Vec::new());
        let (s, r, record) = (&s, &r, &record);
        let result = open_nursery(async |n| {
            let scope = n.cancel_scope();
            n.start_soon(async move {
                record.borrow_mut().push("waiter sleeping");
                expect_success(
                    "wait_send_all_might_not_block on a clogged stream",
                    checkpointed(
                        "wait_send_all_might_not_block",
                        s.wait_send_all_might_not_block(),
                    )
                    .await,
                )?;
                record.borrow_mut().push("waiter wokeup");
                scope.cancel();
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
            n.start_soon(async move {
                // Give wait_send_all_might_not_block a chance to block.
                wait_all_tasks_blocked().await?;
                record.borrow_mut().push("receiver starting");
                let mut buf = vec![0u8; 16834];
                loop {
                    expect_success(
                        "receive_some on a clogged stream",
                        r.receive_some(&mut buf).await,
                    )?;
                }
            })?;
            Ok(())
        })
        .await;
        expect_success("wait_send_all_might_not_block with a receiver", result)?;
        let record = record.borrow();
        if *record != ["waiter sleeping", "receiver starting", "waiter wokeup"] {
            violation(
                "wait_send_all_might_not_block on a clogged stream",
                format_args!(
                    "it must block until a receiver starts; the order of events was {record:?}"
                ),
            );
        }
    }
    force_close_both(&s, &r).await?;

    // Two tasks in wait_send_all_might_not_block at once: BusyResource; the same
    // for wait_send_all_might_not_block and send_all.
    let (s, r) = clogged_stream_maker.make().await?;
    {
        let s = &s;
        let result = open_nursery(async |n| {
            n.start_soon(s.wait_send_all_might_not_block())?;
            n.start_soon(s.wait_send_all_might_not_block())?;
            Ok(())
        })
        .await;
        expect_nursery_error(
            "two tasks in wait_send_all_might_not_block at once",
            result,
            ErrorKind::BusyResource,
        )?;
        let result = open_nursery(async |n| {
            n.start_soon(s.wait_send_all_might_not_block())?;
            n.start_soon(s.send_all(b"123"))?;
            Ok(())
        })
        .await;
        expect_nursery_error(
            "wait_send_all_might_not_block and send_all at once",
            result,
            ErrorKind::BusyResource,
        )?;
    }
    force_close_both(&s, &r).await?;

    // Two tasks in send_all at once: BusyResource.
    let (s, r) = clogged_stream_maker.make().await?;
    {
        let s = &s;
        let result = open_nursery(async |n| {
            n.start_soon(s.send_all(b"123"))?;
            n.start_soon(s.send_all(b"123"))?;
            Ok(())
        })
        .await;
        expect_nursery_error(
            "two tasks in send_all at once",
            result,
            ErrorKind::BusyResource,
        )?;
    }
    force_close_both(&s, &r).await?;

    // Closing the receiver makes wait_send_all_might_not_block return, with or
    // without BrokenResource.
    let (s, r) = clogged_stream_maker.make().await?;
    {
        let (s, r) = (&s, &r);
        let result = open_nursery(async |n| {
            n.start_soon(async move { wait_tolerating_broken(s).await })?;
            n.start_soon(async move {
                wait_all_tasks_blocked().await?;
                aclose_forcefully(r).await
            })?;
            Ok(())
        })
        .await;
        expect_success(
            "wait_send_all_might_not_block while the receiver closes",
            result,
        )?;
    }
    force_close_both(&s, &r).await?;

    // ...and again with the call starting after the close.
    let (s, r) = clogged_stream_maker.make().await?;
    aclose_forcefully(&r).await?;
    wait_tolerating_broken(&s).await?;
    force_close_both(&s, &r).await?;

    // Closing the send stream wakes a task blocked in send_all...
    let (s, r) = clogged_stream_maker.make().await?;
    {
        let s = &s;
        let result = open_nursery(async |n| {
            n.start_soon(close_soon(s))?;
            expect_error(
                "send_all blocked while its own stream is closed",
                s.send_all(b"xyzzy").await,
                ErrorKind::ClosedResource,
            )
        })
        .await;
        expect_success("closing a send stream with a blocked sender", result)?;
    }
    force_close_both(&s, &r).await?;

    // ...or in wait_send_all_might_not_block.
    let (s, r) = clogged_stream_maker.make().await?;
    {
        let s = &s;
        let result = open_nursery(async |n| {
            n.start_soon(close_soon(s))?;
            expect_error(
                "wait_send_all_might_not_block blocked while its own stream is closed",
                s.wait_send_all_might_not_block().await,
                ErrorKind::ClosedResource,
            )
        })
        .await;
        expect_success("closing a send stream with a blocked waiter", result)?;
    }
    force_close_both(&s, &r).await?;
    Ok(())
}

async fn wait_tolerating_broken<S: SendStream>(s: &S) -> Result<()> {
    match checkpointed(
        "wait_send_all_might_not_block",
        s.wait_send_all_might_not_block(),
    )
    .await
    {
        Err(e) if e.kind() == ErrorKind::BrokenResource => Ok(()),
        r => expect_success("wait_send_all_might_not_block after the receiver closed", r),
    }
}

async fn close_soon<S: SendStream>(s: &S) -> Result<()> {
    wait_all_tasks_blocked().await?;
    aclose_forcefully(s).await
}

// ---------------------------------------------------------------------------
// check_two_way_stream
// ---------------------------------------------------------------------------

/// Runs Trio's generic checks on a two-way stream implementation (Trio's
/// `check_two_way_stream`): everything [`check_one_way_stream`] checks, in both
/// directions, then a full-duplex transfer — a mebibyte each way at once, in
/// random-sized chunks from a fixed seed — and that closing one end gives the
/// other end of stream.
///
/// The makers return two connected [`Stream`]s. This is a superset of
/// [`check_one_way_stream`]: no need to call both.
///
/// # Errors
///
/// An error of a maker or of a forced close, or `Cancelled` if the check itself
/// was cancelled.
///
/// # Panics
///
/// When the stream breaks the contract (see [`check_one_way_stream`]).
///
/// # Cancellation
///
/// A checkpoint; a cancelled check stops where it was.
///
/// # Examples
///
/// ```
/// use trio::testing::{check_two_way_stream, lockstep_stream_pair};
/// # trio::run(async {
/// let maker = async || Ok(lockstep_stream_pair());
/// check_two_way_stream(&maker, Some(&maker)).await?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn check_two_way_stream<A, B>(
    stream_maker: &dyn StreamMaker<A, B>,
    clogged_stream_maker: Option<&dyn StreamMaker<A, B>>,
) -> Result<()>
where
    A: Stream,
    B: Stream,
{
    check_one_way_stream(stream_maker, clogged_stream_maker).await?;

    let flipped = Flipped(stream_maker);
    let flipped_clogged = clogged_stream_maker.map(Flipped);
    check_one_way_stream(
        &flipped,
        flipped_clogged
            .as_ref()
            .map(|m| m as &dyn StreamMaker<B, A>),
    )
    .await?;

    let (s1, s2) = stream_maker.make().await?;
    {
        // Full duplex can be a bit tricky: check it.
        const DUPLEX_TEST_SIZE: usize = 1 << 20;
        let mut test_data = vec![0u8; DUPLEX_TEST_SIZE];
        fastrand::Rng::with_seed(0).fill(&mut test_data);
        let reversed: Vec<u8> = test_data.iter().rev().copied().collect();
        let (s1, s2, forward, backward) = (&s1, &s2, &test_data[..], &reversed[..]);
        let result = open_nursery(async |n| {
            n.start_soon(duplex_sender(s1, forward, 0))?;
            n.start_soon(duplex_sender(s2, backward, 1))?;
            n.start_soon(duplex_receiver(s1, backward, 2))?;
            n.start_soon(duplex_receiver(s2, forward, 3))?;
            Ok(())
        })
        .await;
        expect_success("full-duplex transfer", result)?;

        // Closing one end gives the other end of stream.
        let result = open_nursery(async |n| {
            n.start_soon(async move {
                let mut buf = [0u8; 10];
                let got = expect_success(
                    "receive_some after the peer closed",
                    s2.receive_some(&mut buf).await,
                )?;
                if got != 0 {
                    violation(
                        "receive_some after the peer closed",
                        format_args!("expected end of stream, got {got} bytes"),
                    );
                }
                expect_success("aclose", s2.aclose().await)
            })?;
            n.start_soon(async move { expect_success("aclose", s1.aclose().await) })?;
            Ok(())
        })
        .await;
        expect_success("closing one end of a two-way stream", result)?;
    }
    force_close_both(&s1, &s2).await
}

const CHUNK_SIZE_MAX: usize = 1 << 14;

async fn duplex_sender<S: SendStream>(s: &S, data: &[u8], seed: u64) -> Result<()> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut rest = data;
    while !rest.is_empty() {
        let chunk = rng.usize(1..=CHUNK_SIZE_MAX).min(rest.len());
        expect_success("send_all (full duplex)", s.send_all(&rest[..chunk]).await)?;
        rest = &rest[chunk..];
    }
    Ok(())
}

async fn duplex_receiver<R: ReceiveStream>(r: &R, expected: &[u8], seed: u64) -> Result<()> {
    let what = "receive_some (full duplex)";
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut got = Vec::with_capacity(expected.len());
    let mut buf = vec![0u8; CHUNK_SIZE_MAX];
    while got.len() < expected.len() {
        let want = rng.usize(1..=CHUNK_SIZE_MAX);
        let n = expect_success(what, r.receive_some(&mut buf[..want]).await)?;
        if n == 0 {
            violation(
                what,
                format_args!(
                    "end of stream after {} of {} bytes",
                    got.len(),
                    expected.len()
                ),
            );
        }
        if n > want {
            violation(
                what,
                format_args!("returned {n} bytes for a buffer of {want}"),
            );
        }
        got.extend_from_slice(&buf[..n]);
    }
    if got != expected {
        let at = got
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(expected.len());
        violation(
            what,
            format_args!("the bytes received differ from those sent, first at offset {at}"),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// check_half_closeable_stream
// ---------------------------------------------------------------------------

/// Runs Trio's generic checks on a half-closeable stream implementation (Trio's
/// `check_half_closeable_stream`): everything [`check_two_way_stream`] checks,
/// then that `send_eof` delivers the data and then end of stream, is a
/// checkpoint, may be repeated, makes later sends fail with `ClosedResource`,
/// leaves the other direction working — and, with a clogged maker, that
/// `send_eof` during a blocked `send_all` or `wait_send_all_might_not_block` fails
/// with `BusyResource`.
///
/// This is a superset of [`check_two_way_stream`]: no need to call both.
///
/// # Errors
///
/// An error of a maker or of a forced close, or `Cancelled` if the check itself
/// was cancelled.
///
/// # Panics
///
/// When the stream breaks the contract (see [`check_one_way_stream`]).
///
/// # Cancellation
///
/// A checkpoint; a cancelled check stops where it was.
///
/// # Examples
///
/// ```
/// use trio::testing::{check_half_closeable_stream, memory_stream_pair};
/// # trio::run(async {
/// check_half_closeable_stream(&async || Ok(memory_stream_pair()), None).await?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn check_half_closeable_stream<A, B>(
    stream_maker: &dyn StreamMaker<A, B>,
    clogged_stream_maker: Option<&dyn StreamMaker<A, B>>,
) -> Result<()>
where
    A: HalfCloseableStream,
    B: HalfCloseableStream,
{
    check_two_way_stream(stream_maker, clogged_stream_maker).await?;

    let (s1, s2) = stream_maker.make().await?;
    {
        let (s1, s2) = (&s1, &s2);
        let result = open_nursery(async |n| {
            n.start_soon(send_x_then_eof(s1))?;
            n.start_soon(expect_x_then_eof(s2))?;
            Ok(())
        })
        .await;
        expect_success("send_all then send_eof", result)?;

        // Now sending is refused...
        expect_error(
            "send_all after send_eof",
            s1.send_all(b"y").await,
            ErrorKind::ClosedResource,
        )?;
        // ...but send_eof may be repeated...
        expect_success(
            "second send_eof",
            checkpointed("send_eof", s1.send_eof()).await,
        )?;
        // ...and the other direction still works.
        let result = open_nursery(async |n| {
            n.start_soon(send_x_then_eof(s2))?;
            n.start_soon(expect_x_then_eof(s1))?;
            Ok(())
        })
        .await;
        expect_success("the other direction after send_eof", result)?;
    }
    force_close_both(&s1, &s2).await?;

    if let Some(clogged) = clogged_stream_maker {
        // send_all and send_eof at once: BusyResource.
        let (s1, s2) = clogged.make().await?;
        {
            let s1 = &s1;
            let result = open_nursery(async |n| {
                n.start_soon(s1.send_all(b"x"))?;
                wait_all_tasks_blocked().await?;
                n.start_soon(s1.send_eof())?;
                Ok(())
            })
            .await;
            expect_nursery_error(
                "send_eof while send_all is blocked",
                result,
                ErrorKind::BusyResource,
            )?;
        }
        force_close_both(&s1, &s2).await?;

        // wait_send_all_might_not_block and send_eof at once: BusyResource.
        let (s1, s2) = clogged.make().await?;
        {
            let s1 = &s1;
            let result = open_nursery(async |n| {
                n.start_soon(s1.wait_send_all_might_not_block())?;
                wait_all_tasks_blocked().await?;
                n.start_soon(s1.send_eof())?;
                Ok(())
            })
            .await;
            expect_nursery_error(
                "send_eof while wait_send_all_might_not_block is blocked",
                result,
                ErrorKind::BusyResource,
            )?;
        }
        force_close_both(&s1, &s2).await?;
    }
    Ok(())
}

async fn send_x_then_eof<S: HalfCloseableStream>(s: &S) -> Result<()> {
    expect_success("send_all(b\"x\")", s.send_all(b"x").await)?;
    expect_success("send_eof", checkpointed("send_eof", s.send_eof()).await)
}

async fn expect_x_then_eof<R: ReceiveStream>(r: &R) -> Result<()> {
    wait_all_tasks_blocked().await?;
    let mut buf = [0u8; 10];
    let what = "receive_some after the peer's send_all(b\"x\") and send_eof";
    let n = expect_success(what, r.receive_some(&mut buf).await)?;
    if &buf[..n] != b"x" {
        violation(what, format_args!("expected b\"x\", got {:?}", &buf[..n]));
    }
    let n = expect_success(what, r.receive_some(&mut buf).await)?;
    if n != 0 {
        violation(
            what,
            format_args!("expected end of stream, got {:?}", &buf[..n]),
        );
    }
    Ok(())
}
