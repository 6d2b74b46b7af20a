//! The CPU affinity of the calling thread, for [`Loops::pin_to_cpus`] (one loop
//! per CPU) and [`LoopListener`] (a pinned loop asks the kernel for the
//! connections its CPU receives, `SO_INCOMING_CPU`). Linux only; elsewhere the
//! functions report `Unsupported`.
//!
//! Every `unsafe` of it is here: `cpu_set_t` is a C bit array that `libc` lets us
//! touch only through its `CPU_*` functions and the two system calls.
//!
//! [`Loops::pin_to_cpus`]: crate::Loops::pin_to_cpus
//! [`LoopListener`]: crate::net::LoopListener

use std::io;

#[cfg(target_os = "linux")]
mod imp {
    use std::io;
    use std::mem::{size_of, zeroed};

    fn empty() -> libc::cpu_set_t {
        // SAFETY: `cpu_set_t` is an array of integers, for which all-zero bytes are
        // a valid value (the empty set).
        unsafe { zeroed() }
    }

    /// The set of CPUs the calling thread may run on.
    fn get() -> io::Result<libc::cpu_set_t> {
        let mut set = empty();
        // SAFETY: `set` is a valid, writable `cpu_set_t` of the size we pass; pid 0
        // is the calling thread.
        let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(set)
    }

    pub(super) fn allowed_cpus() -> io::Result<Vec<usize>> {
        let set = get()?;
        let mut cpus = Vec::new();
        for c in 0..libc::CPU_SETSIZE as usize {
            // SAFETY: `CPU_ISSET` reads bit `c` of a valid set; `c` is below
            // `CPU_SETSIZE`, the number of bits in a `cpu_set_t`.
            if unsafe { libc::CPU_ISSET(c, &set) } {
                cpus.push(c);
            }
        }
        Ok(cpus)
    }

    pub(super) fn pin_current_thread(cpu: usize) -> io::Result<()> {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let mut set = empty();
        // SAFETY: `CPU_SET` sets bit `cpu` of a valid set, and `cpu` was checked to
        // be below `CPU_SETSIZE`; `sched_setaffinity` only reads the set, whose
        // size we pass. pid 0 is the calling thread.
        let rc = unsafe {
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;

    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "CPU affinity is only supported on Linux",
        )
    }

    pub(super) fn allowed_cpus() -> io::Result<Vec<usize>> {
        Err(unsupported())
    }

    pub(super) fn pin_current_thread(_cpu: usize) -> io::Result<()> {
        Err(unsupported())
    }
}

/// The CPUs the calling thread may run on, in increasing order.
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    imp::allowed_cpus()
}

/// Restricts the calling thread to `cpu`.
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<()> {
    imp::pin_current_thread(cpu)
}

/// The one CPU the calling thread is pinned to, if it is pinned to exactly one.
pub(crate) fn pinned_cpu() -> Option<usize> {
    match allowed_cpus().ok()?.as_slice() {
        [cpu] => Some(*cpu),
        _ => None,
    }
}
