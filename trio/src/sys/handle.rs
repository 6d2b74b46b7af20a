//! Windows handles: pipes, blocking reads and writes that another thread can
//! interrupt, and events. (The Windows counterpart of `fd.rs`; Windows only.)
//!
//! # The platform contract
//!
//! * [`pipe`] makes a pipe as two `OwnedHandle`s, neither inheritable (std
//!   duplicates a handle into a child, inheritable, when it is given as a
//!   `Stdio`). Each end is opened for overlapped I/O or not, as the caller asks: a
//!   child's standard streams must be synchronous, ours may be overlapped. It is a
//!   named pipe with a name of its own, one instance, local clients only — what std
//!   makes for a child's pipes, because `CreatePipe`'s anonymous pipes cannot be
//!   opened for overlapped I/O.
//! * [`BlockingIo`] reads and writes on a pipe or console handle (opened for
//!   overlapped I/O or not: it asks the kernel which) and blocks the calling
//!   thread — a helper thread — until the call is done. A read tells the end of
//!   the stream (the write end closed) apart from a zero-byte completion on a
//!   pipe (a zero-byte write at the other end), which is not the end. Each call
//!   is one system call: an interrupted one is never restarted here.
//! * [`cancel_io`] makes a read or write in progress on a handle return, whichever
//!   thread is in it (`CancelIoEx`, then `CancelSynchronousIo` on the given
//!   thread). When nothing was in progress it fails with
//!   [`NotFound`](std::io::ErrorKind::NotFound): a caller that knows a call is
//!   about to start retries.
//! * [`Event`] is a manual-reset event, for a helper thread to wait on.
//!
//! Errors are the system's own (`GetLastError`).

use std::io;
use std::mem::size_of;
use std::os::windows::io::{AsRawHandle, BorrowedHandle, FromRawHandle, OwnedHandle};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

use windows_sys::Wdk::Storage::FileSystem::{
    FILE_MODE_INFORMATION, FILE_SYNCHRONOUS_IO_ALERT, FILE_SYNCHRONOUS_IO_NONALERT,
    FileModeInformation, NtQueryInformationFile,
};
use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_BROKEN_PIPE, ERROR_HANDLE_EOF, ERROR_IO_PENDING, ERROR_NOT_FOUND,
    ERROR_PIPE_BUSY, FALSE, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE, TRUE,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, FILE_FLAGS_AND_ATTRIBUTES,
    FILE_TYPE_PIPE, GetFileType, OPEN_EXISTING, PIPE_ACCESS_INBOUND, ReadFile, WriteFile,
};
use windows_sys::Win32::System::IO::{
    CancelIoEx, CancelSynchronousIo, GetOverlappedResult, IO_STATUS_BLOCK, OVERLAPPED,
};
use windows_sys::Win32::System::Pipes::{
    CreateNamedPipeW, PIPE_READMODE_BYTE, PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE, PIPE_WAIT,
};
use windows_sys::Win32::System::Threading::{CreateEventW, GetCurrentProcessId, SetEvent};

/// The size the system is asked to buffer in each direction of a pipe.
const PIPE_BUFFER: u32 = 64 * 1024;

/// `FALSE` becomes the last error.
fn cvt(ok: windows_sys::core::BOOL) -> io::Result<()> {
    if ok == FALSE {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `error` is the Windows error `code`.
fn is(error: &io::Error, code: u32) -> bool {
    error.raw_os_error() == Some(code as i32)
}

/// A manual-reset event: once [`set`](Event::set), waits on it return at once.
#[derive(Debug)]
pub(crate) struct Event(OwnedHandle);

impl Event {
    /// A new event, not set.
    pub(crate) fn new() -> io::Result<Event> {
        // SAFETY: no security attributes (null), manual reset, initially not set,
        // no name (null): the call reads no memory of ours.
        let h = unsafe { CreateEventW(ptr::null(), TRUE, FALSE, ptr::null()) };
        if h.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the handle was just made for us and nobody else owns it.
        Ok(Event(unsafe { OwnedHandle::from_raw_handle(h) }))
    }

    /// Sets the event (idempotent).
    pub(crate) fn set(&self) {
        // SAFETY: `self.0` is an event handle we own, open for the call.
        unsafe { SetEvent(self.0.as_raw_handle()) };
    }

    pub(crate) fn handle(&self) -> BorrowedHandle<'_> {
        // SAFETY: the borrow cannot outlive `self`, which owns the handle.
        unsafe { BorrowedHandle::borrow_raw(self.0.as_raw_handle()) }
    }
}

/// A new pipe: `(read end, write end)`, each opened for overlapped I/O if asked.
pub(crate) fn pipe(
    overlapped_read: bool,
    overlapped_write: bool,
) -> io::Result<(OwnedHandle, OwnedHandle)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let overlapped = |yes: bool| if yes { FILE_FLAG_OVERLAPPED } else { 0 };
    // SAFETY: GetCurrentProcessId cannot fail and touches no memory.
    let pid = unsafe { GetCurrentProcessId() };
    // Another process could have taken the name (FILE_FLAG_FIRST_PIPE_INSTANCE
    // then refuses it): try a few others, as std does.
    let mut tries = 0;
    let (server, name) = loop {
        let name: Vec<u16> = format!(
            r"\\.\pipe\trio-pipe-{pid}-{}-{:016x}",
            NEXT.fetch_add(1, Ordering::Relaxed),
            fastrand::u64(..)
        )
        .encode_utf16()
        .chain(Some(0))
        .collect();
        let open_mode: FILE_FLAGS_AND_ATTRIBUTES =
            PIPE_ACCESS_INBOUND | FILE_FLAG_FIRST_PIPE_INSTANCE | overlapped(overlapped_read);
        // SAFETY: `name` is a NUL-terminated UTF-16 string alive for the call; no
        // security attributes (null): the default, not inheritable.
        let h = unsafe {
            CreateNamedPipeW(
                name.as_ptr(),
                open_mode,
                PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
                1,
                PIPE_BUFFER,
                PIPE_BUFFER,
                0,
                ptr::null(),
            )
        };
        if h != INVALID_HANDLE_VALUE {
            // SAFETY: a fresh handle, owned by nobody else.
            break (unsafe { OwnedHandle::from_raw_handle(h) }, name);
        }
        let e = io::Error::last_os_error();
        tries += 1;
        if tries >= 10 || !(is(&e, ERROR_ACCESS_DENIED) || is(&e, ERROR_PIPE_BUSY)) {
            return Err(e);
        }
    };
    // SAFETY: `name` is NUL-terminated UTF-16 and alive for the call; no security
    // attributes (not inheritable) and no template file (null).
    let h = unsafe {
        CreateFileW(
            name.as_ptr(),
            GENERIC_WRITE,
            0,
            ptr::null(),
            OPEN_EXISTING,
            overlapped(overlapped_write),
            ptr::null_mut(),
        )
    };
    if h == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh handle, owned by nobody else.
    let client = unsafe { OwnedHandle::from_raw_handle(h) };
    Ok((server, client))
}

/// Whether `h` was opened for overlapped I/O, as the kernel says
/// (`FileModeInformation`). A handle that cannot say counts as overlapped: the
/// overlapped way of calling also works, blocking, on a synchronous pipe.
fn is_overlapped(h: HANDLE) -> bool {
    let mut status = IO_STATUS_BLOCK::default();
    let mut info = FILE_MODE_INFORMATION::default();
    // SAFETY: `status` and `info` are valid for writes of their sizes, and we pass
    // `info`'s size and the class whose structure it is.
    let r = unsafe {
        NtQueryInformationFile(
            h,
            &mut status,
            (&raw mut info).cast(),
            size_of::<FILE_MODE_INFORMATION>() as u32,
            FileModeInformation,
        )
    };
    r < 0 || info.Mode & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT) == 0
}

/// Blocking reads and writes on one handle, for the helper thread that does them
/// (see the module's contract).
#[derive(Debug)]
pub(crate) struct BlockingIo {
    /// The handle was opened for overlapped I/O: each call passes an
    /// `OVERLAPPED` with `event`, and waits for its completion.
    event: Option<Event>,
    /// A pipe: a zero-byte read is not the end of the stream.
    pipe: bool,
}

impl BlockingIo {
    /// Looks at how `h` was opened.
    pub(crate) fn new(h: BorrowedHandle<'_>) -> io::Result<BlockingIo> {
        let raw = h.as_raw_handle();
        let event = if is_overlapped(raw) {
            Some(Event::new()?)
        } else {
            None
        };
        // SAFETY: GetFileType only reads the handle, which is open.
        let pipe = unsafe { GetFileType(raw) } == FILE_TYPE_PIPE;
        Ok(BlockingIo { event, pipe })
    }

    /// One call of `op` (`ReadFile` or `WriteFile`, bound to the buffer), blocking
    /// until it has completed: the bytes it moved.
    fn call(
        &self,
        h: HANDLE,
        op: impl Fn(*mut u32, *mut OVERLAPPED) -> windows_sys::core::BOOL,
    ) -> io::Result<usize> {
        let Some(event) = &self.event else {
            let mut n = 0u32;
            cvt(op(&mut n, ptr::null_mut()))?;
            return Ok(n as usize);
        };
        let mut ov = OVERLAPPED {
            hEvent: event.handle().as_raw_handle(),
            ..OVERLAPPED::default()
        };
        if let Err(e) = cvt(op(ptr::null_mut(), &mut ov)) {
            if !is(&e, ERROR_IO_PENDING) {
                return Err(e);
            }
        }
        let mut n = 0u32;
        // SAFETY: `ov` belongs to the operation just started on `h`; waiting (TRUE)
        // returns only once it has completed, so neither `ov` nor the buffer is
        // used by the system after this function returns.
        cvt(unsafe { GetOverlappedResult(h, &ov, &mut n, TRUE) })?;
        Ok(n as usize)
    }

    /// Reads into `buf` (not empty): `Ok(Some(n))` for `n` bytes (`n` may be 0 on a
    /// pipe, where that is not the end), `Ok(None)` at the end of the stream.
    pub(crate) fn read(&self, h: BorrowedHandle<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let raw = h.as_raw_handle();
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let ptr = buf.as_mut_ptr();
        // SAFETY: `buf` is valid for writes of `len` bytes until the call has
        // completed, which `call` waits for; `n` and `ov` are valid or null as
        // ReadFile allows (a count for a synchronous call, an OVERLAPPED for an
        // overlapped one).
        let r = self.call(raw, |n, ov| unsafe { ReadFile(raw, ptr, len, n, ov) });
        match r {
            Ok(0) if !self.pipe => Ok(None),
            Ok(n) => Ok(Some(n)),
            Err(e) if is(&e, ERROR_BROKEN_PIPE) || is(&e, ERROR_HANDLE_EOF) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes from `buf` (not empty): how many bytes went.
    pub(crate) fn write(&self, h: BorrowedHandle<'_>, buf: &[u8]) -> io::Result<usize> {
        let raw = h.as_raw_handle();
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let ptr = buf.as_ptr();
        // SAFETY: `buf` is valid for reads of `len` bytes until the call has
        // completed, which `call` waits for; `n` and `ov` as in `read`.
        self.call(raw, |n, ov| unsafe { WriteFile(raw, ptr, len, n, ov) })
    }
}

/// Interrupts a read or write in progress on `h` (see the module's contract):
/// `CancelIoEx` for every thread's, then `CancelSynchronousIo` for `thread`'s.
pub(crate) fn cancel_io(
    h: BorrowedHandle<'_>,
    thread: Option<BorrowedHandle<'_>>,
) -> io::Result<()> {
    // SAFETY: `h` is open for the call; a null OVERLAPPED means "all of them".
    let r = cvt(unsafe { CancelIoEx(h.as_raw_handle(), ptr::null()) });
    match (r, thread) {
        (Err(e), Some(t)) if is(&e, ERROR_NOT_FOUND) => {
            // SAFETY: `t` is a thread handle, open for the call.
            cvt(unsafe { CancelSynchronousIo(t.as_raw_handle()) })
        }
        (r, _) => r,
    }
    .map_err(|e| {
        if is(&e, ERROR_NOT_FOUND) {
            io::ErrorKind::NotFound.into()
        } else {
            e
        }
    })
}
