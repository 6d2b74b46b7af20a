//! The CPU affinity of the calling thread, for [`Loops::pin_to_cpus`] (one loop
//! per CPU) and [`LoopListener`] (a pinned loop asks the kernel for the
//! connections its CPU receives, `SO_INCOMING_CPU`, on Linux). Linux
//! (`sched_setaffinity`) and FreeBSD (`cpuset_setaffinity`) pin threads;
//! elsewhere — macOS has no way to pin a thread — the functions report
//! `Unsupported`, and the loops run unpinned.
//!
//! Every `unsafe` of it is here: a CPU set is a C bit array that `libc` lets us
//! touch only through its `CPU_*` functions and the two system calls.
//!
//! [`Loops::pin_to_cpus`]: crate::Loops::pin_to_cpus
//! [`LoopListener`]: crate::net::LoopListener

use std::io;

#[cfg(any(target_os = "linux", target_os = "freebsd"))]
mod imp {
    use std::io;
    use std::mem::{size_of, zeroed};

    #[cfg(target_os = "linux")]
    type CpuSet = libc::cpu_set_t;
    #[cfg(target_os = "freebsd")]
    type CpuSet = libc::cpuset_t;

    fn empty() -> CpuSet {
        // SAFETY: a CPU set is an array of integers, for which all-zero bytes are a
        // valid value (the empty set).
        unsafe { zeroed() }
    }

    fn check(rc: libc::c_int) -> io::Result<()> {
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The set of CPUs the calling thread may run on.
    fn get() -> io::Result<CpuSet> {
        let mut set = empty();
        #[cfg(target_os = "linux")]
        // SAFETY: `set` is a valid, writable CPU set of the size we pass; pid 0
        // (Linux) and id -1 with CPU_WHICH_TID (FreeBSD) mean the calling thread.
        let rc = unsafe { libc::sched_getaffinity(0, size_of::<CpuSet>(), &mut set) };
        #[cfg(target_os = "freebsd")]
        // SAFETY: as above.
        let rc = unsafe {
            libc::cpuset_getaffinity(
                libc::CPU_LEVEL_WHICH,
                libc::CPU_WHICH_TID,
                -1,
                size_of::<CpuSet>(),
                &mut set,
            )
        };
        check(rc)?;
        Ok(set)
    }

    pub(super) fn allowed_cpus() -> io::Result<Vec<usize>> {
        let set = get()?;
        let mut cpus = Vec::new();
        for c in 0..libc::CPU_SETSIZE as usize {
            // SAFETY: `CPU_ISSET` reads bit `c` of a valid set; `c` is below
            // `CPU_SETSIZE`, the number of bits in a CPU set.
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
        // be below `CPU_SETSIZE`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
        #[cfg(target_os = "linux")]
        // SAFETY: `sched_setaffinity` only reads the set, whose size we pass; pid 0
        // is the calling thread.
        let rc = unsafe { libc::sched_setaffinity(0, size_of::<CpuSet>(), &set) };
        #[cfg(target_os = "freebsd")]
        // SAFETY: `cpuset_setaffinity` only reads the set, whose size we pass; id
        // -1 with CPU_WHICH_TID is the calling thread.
        let rc = unsafe {
            libc::cpuset_setaffinity(
                libc::CPU_LEVEL_WHICH,
                libc::CPU_WHICH_TID,
                -1,
                size_of::<CpuSet>(),
                &set,
            )
        };
        check(rc)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
mod imp {
    use std::io;

    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "threads cannot be pinned to CPUs on this system",
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
