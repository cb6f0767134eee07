//! The binary's only unsafe code: taking ownership of inherited fds by number, and the
//! real-ID changes rustix does not offer.
#![allow(unsafe_code)]

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Borrows an fd by number for a single call that tolerates `EBADF`.
pub fn borrow_fd(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: callers use the borrow for one fcntl/dup call whose failure on a closed fd
    // is reported as EBADF; the number is never stored.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Takes ownership of an fd the process inherited.
pub fn own_inherited_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller found `fd` open in /proc/self/fd at start-up, where nothing in
    // this process owns it yet, and takes it only once.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `setregid(gid, -1)`: change only the real GID.
pub fn set_real_gid(gid: u32) -> Result<(), i32> {
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe { libc::setregid(gid, u32::MAX) };
    if r < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(())
    }
}

/// `setreuid(uid, -1)`: change only the real UID.
pub fn set_real_uid(uid: u32) -> Result<(), i32> {
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe { libc::setreuid(uid, u32::MAX) };
    if r < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(())
    }
}
