//! What a receive took but never returned, because its future was dropped at
//! the schedule point it owes after taking it: kept for the next receive.
//!
//! A receive that finds data at once still owes a schedule point (Trio's
//! checkpoint rule), and a future can be dropped there — after the bytes left
//! the kernel, before they reached the caller. [`Keep`] is the guard that
//! catches them: armed across that schedule point, forgotten once the
//! receive returns; on drop, the bytes go to the socket's or pipe's keeping
//! place, and the next receive returns them first. Sockets and pipes share
//! it; the io_uring path has its own stash (`lowlevel::RingIo`), for results
//! that arrive after their future is gone.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::IoSliceMut;

use socket2::SockAddr;

/// Copies `src` into `bufs` in order, as far as they hold; how many bytes.
pub(crate) fn scatter(src: &[u8], bufs: &mut [IoSliceMut<'_>]) -> usize {
    let mut n = 0;
    for b in bufs {
        let m = b.len().min(src.len() - n);
        b[..m].copy_from_slice(&src[n..n + m]);
        n += m;
    }
    n
}

/// Moves the first kept bytes into `bufs`, in order; how many.
pub(crate) fn take_kept(kept: &RefCell<Vec<u8>>, bufs: &mut [IoSliceMut<'_>]) -> usize {
    let mut k = kept.borrow_mut();
    let n = scatter(&k, bufs);
    k.drain(..n);
    n
}

/// Where [`Keep`] puts what a dropped receive took.
pub(crate) enum KeepInto<'a> {
    /// A stream's bytes, for the next receive.
    Bytes(&'a RefCell<Vec<u8>>),
    /// A datagram, whole, with its sender.
    Datagram(&'a RefCell<VecDeque<(Vec<u8>, SockAddr)>>, SockAddr),
}

/// Keeps a receive's first `n` bytes (in `parts`, in order) if dropped;
/// `std::mem::forget` it once they are returned.
pub(crate) struct Keep<'a, 'b> {
    pub(crate) into: KeepInto<'a>,
    pub(crate) parts: &'a [IoSliceMut<'b>],
    pub(crate) n: usize,
}

impl Drop for Keep<'_, '_> {
    fn drop(&mut self) {
        let mut bytes = Vec::with_capacity(self.n);
        let mut left = self.n;
        for p in self.parts {
            let m = p.len().min(left);
            bytes.extend_from_slice(&p[..m]);
            left -= m;
        }
        match &self.into {
            KeepInto::Bytes(kept) => kept.borrow_mut().extend_from_slice(&bytes),
            KeepInto::Datagram(kept, from) => kept.borrow_mut().push_back((bytes, from.clone())),
        }
    }
}
