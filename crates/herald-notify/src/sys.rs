//! The client's only unsafe code: what rustix has no safe call for.
//!
//! # Safety
//! Each block below either builds a plain-old-data socket address on the stack for the
//! duration of one call, or borrows a file descriptor number that the process environment
//! (socket activation) promises is open.
#![allow(unsafe_code)]

use std::os::fd::{BorrowedFd, RawFd};

use rustix::net::addr::{SocketAddrArg, SocketAddrLen, SocketAddrOpaque};

/// `struct sockaddr_vm` (linux/vm_sockets.h).
#[repr(C)]
struct SockaddrVm {
    svm_family: u16,
    svm_reserved1: u16,
    svm_port: u32,
    svm_cid: u32,
    svm_flags: u8,
    svm_zero: [u8; 3],
}

/// An AF_VSOCK address, usable with rustix's `connect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VsockAddr {
    /// Context ID.
    pub cid: u32,
    /// Port.
    pub port: u32,
}

const AF_VSOCK: u16 = 40;

// SAFETY: `with_sockaddr` passes `f` a pointer to a fully initialised `sockaddr_vm` that
// lives on the stack for the whole call, with its exact size as the length.
unsafe impl SocketAddrArg for VsockAddr {
    unsafe fn with_sockaddr<R>(
        &self,
        f: impl FnOnce(*const SocketAddrOpaque, SocketAddrLen) -> R,
    ) -> R {
        let addr = SockaddrVm {
            svm_family: AF_VSOCK,
            svm_reserved1: 0,
            svm_port: self.port,
            svm_cid: self.cid,
            svm_flags: 0,
            svm_zero: [0; 3],
        };
        f(
            (&addr as *const SockaddrVm).cast(),
            std::mem::size_of::<SockaddrVm>() as SocketAddrLen,
        )
    }
}

/// Sets `FD_CLOEXEC` on an inherited socket-activation fd, by number.
///
/// # References
/// - fcntl(2) `F_SETFD`
pub fn set_cloexec(fd: RawFd) -> rustix::io::Result<()> {
    // SAFETY: the fd is only borrowed for this one fcntl call; if it is not open the
    // kernel answers EBADF, which is returned, so no other object's fd is affected.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let flags = rustix::io::fcntl_getfd(fd)?;
    rustix::io::fcntl_setfd(fd, flags | rustix::io::FdFlags::CLOEXEC)
}
