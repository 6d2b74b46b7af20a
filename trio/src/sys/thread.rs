//! Naming the calling thread, as the system's tools (`top -H`, debuggers) show it.
//!
//! Contract: [`set_current_name`] gives the calling thread an OS-level name of
//! at most 15 bytes (the limit of every system here), non-ASCII characters
//! replaced by `?`; on a system without thread names it does nothing. It never
//! fails: a name is a courtesy. `std::thread::current().name()` is not affected.

/// Sets the OS name of the calling thread (see the module's contract).
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_vendor = "apple"
))]
pub(crate) fn set_current_name(name: &str) {
    let bytes: Vec<u8> = name
        .chars()
        .map(|c| {
            if c.is_ascii() && c != '\0' {
                c as u8
            } else {
                b'?'
            }
        })
        .take(15)
        .collect();
    let Ok(cname) = std::ffi::CString::new(bytes) else {
        return;
    };
    #[cfg(not(target_vendor = "apple"))]
    // SAFETY: `cname` is a valid NUL-terminated string of at most 15 bytes plus the
    // NUL, the limit of every platform here, and it outlives the call;
    // `pthread_self()` is always a valid handle for the calling thread.
    unsafe {
        libc::pthread_setname_np(libc::pthread_self(), cname.as_ptr());
    }
    #[cfg(target_vendor = "apple")]
    // SAFETY: as above; on Apple platforms the call names the calling thread.
    unsafe {
        libc::pthread_setname_np(cname.as_ptr());
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_vendor = "apple"
)))]
/// Sets the OS name of the calling thread: nothing to do on this system.
pub(crate) fn set_current_name(_name: &str) {}
