//! What a program driving an io_uring by hand (the `uring-floor` workloads,
//! `examples/http_floor.rs`) needs to stay sound: the kernel may write into its
//! buffers until their operations complete, so it must never unwind past them.

/// Aborts the process if dropped while a panic unwinds: the kernel may still
/// write into buffers that unwinding would free. Declare it after everything
/// the ring's operations point into, so that it is dropped first.
pub struct AbortOnPanic;

impl Drop for AbortOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            std::process::abort();
        }
    }
}

/// Reports `what` went wrong in `who` and ends the process at once (no
/// unwinding: the ring goes down with the memory it points into).
pub fn fail(who: &str, what: &str) -> ! {
    eprintln!("{who}: {what}");
    std::process::exit(1)
}
