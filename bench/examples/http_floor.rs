//! The floor under an HTTP hello server on io_uring: no runtime and no HTTP
//! library, only the kernel's work and a ring. Linux only.
//!
//! It answers what `examples/http_server.rs` (hyper on trio) and
//! `examples/http_server_tokio.rs` (hyper on tokio) answer — `Hello, world!`
//! with the same status line and headers, byte for byte the same length — to
//! HTTP/1.1 requests without a body, which is what `wrk` sends. One thread, one
//! ring, each connection a buffer and a few counters: receive, count the
//! complete requests (a blank line ends each), send one answer per request,
//! receive again. The loop submits what is due and waits for a completion, one
//! `io_uring_enter` per batch. A server that parses nothing and has no tasks,
//! futures or wakers: what hyper and a runtime add is the gap between a server
//! and this one.
//!
//! ```text
//! cargo run --release -p trio-bench --example http_floor -- [PORT] [--duration-secs N]
//! wrk -t2 -c64 -d10s http://127.0.0.1:PORT/
//! ```
//!
//! A client that closes, resets, or sends more than a buffer's worth without a
//! complete request loses its own connection and nothing else.

#[cfg(target_os = "linux")]
#[path = "../src/bare_ring.rs"]
mod bare_ring;
#[cfg(target_os = "linux")]
#[path = "support/server_args.rs"]
mod server_args;

#[cfg(target_os = "linux")]
fn main() {
    floor::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("http_floor runs on Linux only (io_uring)");
}

#[cfg(target_os = "linux")]
mod floor {
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::time::{Duration, Instant};

    use io_uring::{IoUring, opcode, squeue, types};

    /// hyper's answer, with a date of the same length (hyper's changes each second).
    const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 14\r\n\
        date: Tue, 08 Dec 2026 00:00:00 GMT\r\n\r\nHello, world!\n";
    const BUF: usize = 4096;
    /// At most this many answers queued for one send (wrk sends one request
    /// at a time per connection; a pipelining client gets them in rounds).
    const MAX_ANSWERS: usize = 16;
    const ACCEPT: u64 = u64::MAX;
    const RECV: u64 = 1 << 32;

    struct Conn {
        stream: TcpStream,
        /// Received bytes not yet ending in a complete request: `inb[..have]`.
        inb: Box<[u8; BUF]>,
        have: usize,
        /// Answers to send: `out[sent..len]`.
        out: Box<[u8]>,
        len: usize,
        sent: usize,
    }

    pub fn main() {
        let (port, duration) = super::server_args::parse("http_floor");
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| fail(&format!("cannot listen on 127.0.0.1:{port}: {e}")));
        let mut ring = IoUring::new(1024).unwrap_or_else(|e| fail(&format!("no io_uring: {e}")));
        println!("listening on http://127.0.0.1:{port}/");
        let deadline = duration.map(|d| Instant::now() + d);
        let mut conns: slab::Slab<Conn> = slab::Slab::new();
        let mut served = 0u64;
        // A panic aborts: unwinding would free connections' buffers under the
        // ring (declared last, so dropped first).
        let _abort = super::bare_ring::AbortOnPanic;
        push(&mut ring, accept(&listener), ACCEPT);
        let mut batch = Vec::new();
        loop {
            let wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if wait.is_some_and(|w| w.is_zero()) {
                break;
            }
            let ts = types::Timespec::from(wait.unwrap_or(Duration::from_secs(1)));
            let args = types::SubmitArgs::new().timespec(&ts);
            match ring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
                Err(e) => fail(&format!("io_uring_enter: {e}")),
            }
            batch.extend(ring.completion().map(|c| (c.user_data(), c.result())));
            for (user_data, res) in batch.drain(..) {
                if user_data == ACCEPT {
                    if res >= 0 {
                        // SAFETY: a successful accept's result is a new fd nobody else owns.
                        let stream = unsafe { TcpStream::from_raw_fd(res) };
                        let _ = stream.set_nodelay(true);
                        let key = conns.insert(Conn {
                            stream,
                            inb: Box::new([0; BUF]),
                            have: 0,
                            out: vec![0; MAX_ANSWERS * ANSWER.len()].into_boxed_slice(),
                            len: 0,
                            sent: 0,
                        });
                        push(&mut ring, recv(&mut conns[key]), RECV | key as u64);
                    }
                    push(&mut ring, accept(&listener), ACCEPT);
                    continue;
                }
                let key = (user_data & !RECV) as usize;
                let c = &mut conns[key];
                let next = if res <= 0 {
                    Next::Close // closed, reset or failed: this connection ends
                } else if user_data & RECV != 0 {
                    received(c, res as usize, &mut served)
                } else {
                    c.sent += res as usize;
                    if c.sent < c.len {
                        Next::Send
                    } else {
                        Next::Recv
                    }
                };
                match next {
                    Next::Recv => push(&mut ring, recv(c), RECV | key as u64),
                    Next::Send => push(&mut ring, send(c), key as u64),
                    // Nothing of this connection's is in flight: it can go.
                    Next::Close => drop(conns.remove(key)),
                }
            }
        }
        println!("served {served} requests");
        // Exiting ends the ring with the process: nothing is freed under it.
        std::process::exit(0)
    }

    /// A connection's next operation after a completion.
    enum Next {
        Recv,
        Send,
        Close,
    }

    /// `n` bytes arrived after `inb[..have]`: answer the complete requests,
    /// or receive more (close if a request does not fit in the buffer).
    fn received(c: &mut Conn, n: usize, served: &mut u64) -> Next {
        c.have += n;
        let mut answers = 0;
        let mut start = 0;
        while let Some(end) = find_blank_line(&c.inb[start..c.have]) {
            start += end;
            answers += 1;
            if answers == MAX_ANSWERS {
                break;
            }
        }
        c.inb.copy_within(start..c.have, 0);
        c.have -= start;
        if answers == 0 {
            return if c.have < BUF {
                Next::Recv
            } else {
                Next::Close
            };
        }
        *served += answers as u64;
        for a in 0..answers {
            c.out[a * ANSWER.len()..][..ANSWER.len()].copy_from_slice(ANSWER);
        }
        (c.len, c.sent) = (answers * ANSWER.len(), 0);
        Next::Send
    }

    /// Where the first request in `b` ends (just past its blank line).
    fn find_blank_line(b: &[u8]) -> Option<usize> {
        b.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
    }

    fn accept(listener: &TcpListener) -> squeue::Entry {
        let fd = types::Fd(listener.as_raw_fd());
        opcode::Accept::new(fd, std::ptr::null_mut(), std::ptr::null_mut())
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn recv(c: &mut Conn) -> squeue::Entry {
        let to = &mut c.inb[c.have..];
        let fd = types::Fd(c.stream.as_raw_fd());
        opcode::Recv::new(fd, to.as_mut_ptr(), to.len() as u32).build()
    }

    fn send(c: &Conn) -> squeue::Entry {
        let from = &c.out[c.sent..c.len];
        let fd = types::Fd(c.stream.as_raw_fd());
        opcode::Send::new(fd, from.as_ptr(), from.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    fn push(ring: &mut IoUring, entry: squeue::Entry, user_data: u64) {
        if ring.submission().is_full() {
            let _ = ring.submit(); // room for this one
        }
        // An entry points into its connection's boxed buffers (their addresses
        // do not move with the `Conn` in the slab). The listener and the ring
        // live until the process exits, and nothing unwinds meanwhile (`fail`
        // exits the process, a panic aborts it).
        // SAFETY: a connection is removed (its buffers freed) only once its one
        // operation in flight has completed and no other is queued.
        let pushed = unsafe { ring.submission().push(&entry.user_data(user_data)) };
        if pushed.is_err() {
            fail("submission queue full");
        }
    }

    fn fail(what: &str) -> ! {
        super::bare_ring::fail("http_floor", what)
    }
}
