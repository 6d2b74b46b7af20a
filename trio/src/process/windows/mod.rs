//! Subprocesses on Windows: the child's state and the pipe streams, on helper
//! threads.
//!
//! | file | concept |
//! |---|---|
//! | `shared.rs` | the state a helper thread and the trio side share, and how they wake each other |
//! | `child.rs` | a child: its process handle, the thread that waits for its exit, terminating it |
//! | `pipe.rs` | `PipeSendStream`, `PipeReceiveStream` and `pipe` over a thread that reads or writes |
//!
//! # Why threads
//!
//! trio's reactor on Windows watches sockets only. A process handle, and the
//! pipes std gives a child, cannot join it, so each thing that has to be waited
//! for gets a helper thread that blocks in the system call and reports to the
//! trio side through a [`Shared`](shared::Shared) state: the thread changes the
//! state and wakes the task's waker (a trio waker can be woken from any thread);
//! the task's wait is an ordinary cancellable trio wait
//! ([`CancelRegistration`](crate::lowlevel::CancelRegistration)), recorded as
//! waiting on a thread, so the deadlock detector stays quiet.
//!
//! Each thread is started by the first operation that needs it — a pipe nobody
//! reads and a child nobody waits for cost none — and ends with what it serves:
//! a closed stream interrupts its thread's read or write (`CancelIoEx`), a
//! dropped child stops its waiting thread (an event it waits on beside the
//! process). Nothing waits for a thread to end, so dropping never blocks.
//!
//! # Alternatives not taken
//!
//! * Overlapped I/O completed into the reactor's completion port (std's child
//!   pipes are opened for overlapped I/O on our side): no threads, but the core's
//!   reactor would have to learn a second kind of source, and a handle opened
//!   for synchronous I/O (a console, a `CreatePipe` pipe) would still need a
//!   thread.
//! * Reading ahead into a buffer whether or not anyone receives: simpler
//!   hand-offs, but it takes bytes out of a handle the program may share, and
//!   reads from children nobody listens to.
//! * A thread pool wait (`RegisterWaitForSingleObject`) for the child's exit: no
//!   thread of our own, but a second mechanism beside the pipes' for little gain.

pub(super) mod child;
pub(super) mod pipe;
mod shared;
