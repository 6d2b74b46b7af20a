// Ported from Python Trio's `trio/_tests/test_highlevel_generic.py`:
// `test_StapledStream` and `test_StapledStream_with_erroring_close`.
//
// Rust mappings: Trio decides at run time whether the send half has `send_eof`;
// here the choice is made by type (see `trio::StapledStream`): a half-closeable
// send half gets `send_eof` delegated, trio's one-way send streams are closed. So
// `test_StapledStream`'s two `send_eof` cases use a half-closeable recording
// stream and a `MemorySendStream`. When both halves fail to close, Python raises
// the second error with the first as its context; trio returns a group of both.
//
// Plus: a cancelled `aclose` still closes both halves, and the accessors.

use std::cell::RefCell;
use std::rc::Rc;

use trio::StapledStream;
use trio::abc::{AsyncResource, HalfCloseableStream, ReceiveStream, SendStream};
use trio::testing::{MemoryReceiveStream, memory_stream_one_way_pair};
use trio::{CancelScope, Error, ErrorKind};

type Record = Rc<RefCell<Vec<String>>>;

/// Records every call; optionally fails in `aclose` (after recording it).
#[derive(Debug, Default)]
struct RecordStream {
    record: Record,
    aclose_error: Option<&'static str>,
}

impl RecordStream {
    fn log(&self, what: impl Into<String>) {
        self.record.borrow_mut().push(what.into());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.record.borrow_mut())
    }
}

impl AsyncResource for RecordStream {
    async fn aclose(&self) -> trio::Result<()> {
        self.log("aclose");
        match self.aclose_error {
            Some(msg) => Err(Error::new(ErrorKind::Other, msg)),
            None => Ok(()),
        }
    }
}

impl SendStream for RecordStream {
    async fn send_all(&self, data: &[u8]) -> trio::Result<()> {
        self.log(format!("send_all {}", String::from_utf8_lossy(data)));
        Ok(())
    }
    async fn wait_send_all_might_not_block(&self) -> trio::Result<()> {
        self.log("wait_send_all_might_not_block");
        Ok(())
    }
}

impl ReceiveStream for RecordStream {
    async fn receive_some(&self, buf: &mut [u8]) -> trio::Result<usize> {
        self.log(format!("receive_some {}", buf.len()));
        Ok(0)
    }
}

/// The half-closeable flavour: has its own `send_eof`.
impl HalfCloseableStream for RecordStream {
    async fn send_eof(&self) -> trio::Result<()> {
        self.log("send_eof");
        Ok(())
    }
}

/// Only a send stream (no `send_eof` of its own).
#[derive(Debug, Default)]
struct SendOnly(RecordStream);

impl AsyncResource for SendOnly {
    async fn aclose(&self) -> trio::Result<()> {
        self.0.aclose().await
    }
}

impl SendStream for SendOnly {
    async fn send_all(&self, data: &[u8]) -> trio::Result<()> {
        self.0.send_all(data).await
    }
    async fn wait_send_all_might_not_block(&self) -> trio::Result<()> {
        self.0.wait_send_all_might_not_block().await
    }
}

#[trio::test]
async fn stapled_stream() -> trio::Result<()> {
    // test_StapledStream
    let stapled = StapledStream::new(SendOnly::default(), RecordStream::default());
    let (send, receive) = (&stapled.send_stream().0, stapled.receive_stream());

    stapled.send_all(b"foo").await?;
    stapled.wait_send_all_might_not_block().await?;
    assert_eq!(
        send.take(),
        ["send_all foo", "wait_send_all_might_not_block"]
    );
    assert!(receive.take().is_empty());

    stapled.receive_some(&mut [0u8; 1234]).await?;
    assert_eq!(receive.take(), ["receive_some 1234"]);
    assert!(send.take().is_empty());

    stapled.aclose().await?;
    assert_eq!(receive.take(), ["aclose"]);
    assert_eq!(send.take(), ["aclose"]);
    Ok(())
}

#[trio::test]
async fn stapled_send_eof_delegates_to_a_half_closeable_send_half() -> trio::Result<()> {
    // test_StapledStream, the `send_stream.send_eof = fake_send_eof` half.
    let stapled = StapledStream::new(RecordStream::default(), RecordStream::default());
    stapled.send_eof().await?;
    assert_eq!(stapled.send_stream().take(), ["send_eof"]);
    assert!(stapled.receive_stream().take().is_empty());
    Ok(())
}

#[trio::test]
async fn stapled_send_eof_closes_a_one_way_send_half() -> trio::Result<()> {
    // test_StapledStream, the half where `send_eof` falls back to `aclose`: seen
    // through the close hook of a MemorySendStream.
    let (s, r) = memory_stream_one_way_pair();
    let record: Record = Rc::default();
    let rec = record.clone();
    let pump = s.close_hook().get().unwrap();
    s.close_hook().set(move |s| {
        rec.borrow_mut().push("aclose".into());
        pump.call(s);
    });
    let stapled = StapledStream::new(s, MemoryReceiveStream::new());
    stapled.send_eof().await?;
    assert_eq!(*record.borrow(), ["aclose"]);
    assert_eq!(r.receive_some(&mut [0u8; 4]).await?, 0);
    assert_eq!(
        stapled.send_all(b"x").await.unwrap_err().kind(),
        ErrorKind::ClosedResource
    );
    // Receiving still works.
    stapled.receive_stream().put_data(b"in")?;
    assert_eq!(stapled.receive_some(&mut [0u8; 4]).await?, 2);
    Ok(())
}

#[trio::test]
async fn stapled_stream_with_erroring_close() {
    // test_StapledStream_with_erroring_close: if one aclose fails, the other is
    // still called.
    let stapled = StapledStream::new(
        SendOnly(RecordStream {
            aclose_error: Some("send error"),
            ..Default::default()
        }),
        RecordStream {
            aclose_error: Some("recv error"),
            ..Default::default()
        },
    );
    let err = stapled.aclose().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Group);
    let msgs: Vec<_> = err.errors().iter().map(|e| e.message().unwrap()).collect();
    assert_eq!(msgs, ["send error", "recv error"]);
    assert_eq!(stapled.send_stream().0.take(), ["aclose"]);
    assert_eq!(stapled.receive_stream().take(), ["aclose"]);

    // Only one failing: that error, and both still closed.
    let stapled = StapledStream::new(
        SendOnly(RecordStream {
            aclose_error: Some("send error"),
            ..Default::default()
        }),
        RecordStream::default(),
    );
    let err = stapled.aclose().await.unwrap_err();
    assert_eq!(err.message(), Some("send error"));
    assert_eq!(stapled.receive_stream().take(), ["aclose"]);
}

#[trio::test]
async fn cancelled_aclose_still_closes_both_halves() -> trio::Result<()> {
    // Rust-side: the AsyncResource contract through the staple.
    let (s, _r) = memory_stream_one_way_pair();
    let stapled = StapledStream::new(s, MemoryReceiveStream::new());
    let scope = CancelScope::new();
    scope.cancel();
    assert_eq!(scope.run(stapled.aclose()).await?, None);
    assert_eq!(
        stapled.send_all(b"x").await.unwrap_err().kind(),
        ErrorKind::ClosedResource
    );
    assert_eq!(
        stapled
            .receive_some(&mut [0u8; 1])
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::ClosedResource
    );
    Ok(())
}

#[test]
fn accessors_and_into_inner() {
    let (s, r) = memory_stream_one_way_pair();
    let stapled = StapledStream::new(s.clone(), r);
    assert!(format!("{stapled:?}").starts_with("StapledStream"));
    let copy = stapled.clone(); // memory stream handles are shared
    let (s2, _r2) = copy.into_inner();
    s2.close();
    assert!(s.get_data_nowait(None).unwrap().is_empty()); // closed through the clone
}
