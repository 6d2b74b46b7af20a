//! Guest mode (`Runtime::start_guest`): trio inside another event loop. The host
//! here is the smallest there is — a loop on the test's thread that runs the
//! callbacks sent to it — which is all guest mode asks of a host.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use trio::abc::{ReceiveStream, SendStream};
use trio::lowlevel::Instrument;
use trio::{ErrorKind, GuestRun, Runtime};

type Callback = Box<dyn FnOnce() + Send>;

/// A host loop: runs callbacks until the run's result arrives; `between` runs
/// between callbacks (the host's own work), and may act on the guest.
struct Host<T> {
    callbacks: mpsc::Receiver<Callback>,
    result: Rc<RefCell<Option<trio::Result<T>>>>,
    /// How many callbacks (trio steps) the host ran.
    steps: usize,
}

fn start<T: 'static>(
    runtime: Runtime,
    main: impl std::future::Future<Output = trio::Result<T>> + 'static,
) -> (Host<T>, GuestRun) {
    let (tx, rx) = mpsc::channel::<Callback>();
    let result = Rc::new(RefCell::new(None));
    let r = result.clone();
    let guest = runtime
        .start_guest(
            main,
            move |f| tx.send(f).unwrap(),
            move |out| *r.borrow_mut() = Some(out),
        )
        .unwrap();
    (
        Host {
            callbacks: rx,
            result,
            steps: 0,
        },
        guest,
    )
}

impl<T> Host<T> {
    /// The host's loop: runs trio's steps as they come, and its own work
    /// (`between`, given the number of steps so far) after each step and every
    /// few milliseconds — a host has events of its own.
    fn run(&mut self, mut between: impl FnMut(usize)) -> trio::Result<T> {
        let give_up = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(r) = self.result.borrow_mut().take() {
                return r;
            }
            assert!(
                std::time::Instant::now() < give_up,
                "the guest run never ended"
            );
            if let Ok(f) = self.callbacks.recv_timeout(Duration::from_millis(5)) {
                f();
                self.steps += 1;
            }
            between(self.steps);
        }
    }
}

#[test]
fn a_guest_run_delivers_its_result_on_the_host_thread() {
    let host_thread = std::thread::current().id();
    let (mut host, _guest) = start(Runtime::new(), async move {
        assert_eq!(std::thread::current().id(), host_thread); // steps run here
        trio::sleep(Duration::from_millis(20)).await?;
        trio::open_nursery(async |n| {
            for _ in 0..10 {
                n.start_soon(trio::lowlevel::checkpoint())?;
            }
            Ok(())
        })
        .await?;
        Ok(42)
    });
    let host_work = Cell::new(0);
    assert_eq!(
        host.run(|_| host_work.set(host_work.get() + 1)).unwrap(),
        42
    );
    // trio ran in several steps, and the host ran its own code between them.
    assert!(host.steps > 1, "{}", host.steps);
    assert!(host_work.get() >= host.steps);
    // Between steps, the host's code sees no trio run on its thread.
    assert!(trio::lowlevel::try_current_task().is_none());
}

#[test]
fn the_host_can_cancel_the_run() {
    let (mut host, guest) = start(Runtime::new(), async {
        trio::sleep_forever().await // not a deadlock: the host may cancel
    });
    let mut cancelled = false;
    let err = host
        .run(|step| {
            // Once the run has started, the host cancels it.
            if step >= 1 && !cancelled {
                cancelled = guest.cancel();
            }
        })
        .unwrap_err();
    assert!(cancelled);
    assert!(err.is_cancelled(), "{err}");
    assert!(!guest.cancel(), "the run has ended");
}

#[test]
fn a_guest_serves_tcp_while_the_host_runs_its_own_loop() {
    let (port_tx, port_rx) = mpsc::channel();
    let (mut host, guest) = start(Runtime::new(), async move {
        trio::open_nursery(async |n| {
            let listeners = n
                .start(async |status| {
                    trio::net::serve_tcp(
                        async |s: trio::net::SocketStream| {
                            let mut buf = [0u8; 64];
                            let got = s.receive_some(&mut buf).await?;
                            s.send_all(&buf[..got]).await
                        },
                        0,
                    )
                    .host("127.0.0.1")
                    .task_status(status)
                    .await
                })
                .await?;
            port_tx.send(listeners[0].local_addr()?.port()).unwrap();
            Ok(())
        })
        .await?;
        Ok(())
    });
    // A client on another thread, with std's blocking sockets.
    let client = std::thread::spawn(move || {
        let port = port_rx.recv().unwrap();
        let mut answers = Vec::new();
        for word in ["guest", "mode"] {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(word.as_bytes()).unwrap();
            let mut buf = [0u8; 64];
            let got = c.read(&mut buf).unwrap();
            answers.push(String::from_utf8_lossy(&buf[..got]).to_string());
        }
        answers
    });
    let mut client = Some(client);
    let mut answers = None;
    let err = host
        .run(|_| {
            // The host's loop: once the client is done, it stops the guest.
            if client.as_ref().is_some_and(|c| c.is_finished()) {
                answers = Some(client.take().unwrap().join().unwrap());
                guest.cancel();
            }
        })
        .unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(answers.unwrap(), ["guest", "mode"]);
}

#[test]
fn deadlocks_are_still_detected_in_guest_mode() {
    let (mut host, _guest) = start(Runtime::new(), async {
        let (a, b) = (trio::sync::Event::new(), trio::sync::Event::new());
        trio::open_nursery(async |n| {
            n.start_soon(async {
                a.wait().await?;
                b.set();
                Ok(())
            })?;
            n.start_soon(async {
                b.wait().await?;
                a.set();
                Ok(())
            })?;
            Ok(())
        })
        .await?;
        Ok(())
    });
    let err = host.run(|_| {}).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Deadlock);
}

#[test]
fn instruments_see_the_io_waits_the_helper_thread_makes() {
    #[derive(Default)]
    struct Waits(RefCell<Vec<Duration>>);
    impl Instrument for Waits {
        fn before_io_wait(&self, timeout: Duration) {
            self.0.borrow_mut().push(timeout);
        }
    }
    let waits = Rc::new(Waits::default());
    let (mut host, _guest) = start(
        Runtime::builder().instrument(waits.clone()).build(),
        async {
            trio::sleep(Duration::from_millis(30)).await?;
            Ok(())
        },
    );
    host.run(|_| {}).unwrap();
    // At least one real wait for the sleep's deadline, made on the helper.
    assert!(
        waits
            .0
            .borrow()
            .iter()
            .any(|t| *t >= Duration::from_millis(1)),
        "{:?}",
        waits.0.borrow()
    );
}

#[test]
fn a_panic_in_the_guest_is_resumed_in_the_hosts_callback() {
    let (mut host, _guest) = start(Runtime::new(), async {
        trio::lowlevel::checkpoint().await?;
        if true {
            panic!("guest trouble");
        }
        Ok(())
    });
    let caught = catch_unwind(AssertUnwindSafe(|| host.run(|_| {})));
    let p = caught.unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"guest trouble"));
}

#[trio::test]
async fn a_guest_run_cannot_start_inside_a_trio_task() {
    let e = Runtime::new()
        .start_guest(async { Ok::<_, trio::Error>(()) }, |_f| {}, |_r| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NestedRun);
}
