//! Thin, safe wrappers around the Linux system calls the manager needs.
//!
//! This is the only module of the crate that may contain `unsafe` code.
//! Every wrapper names the system call it issues and the manual page that
//! describes it. [`rustix`] is used wherever it offers the call; `libc` (or a
//! raw `syscall(2)`) is used where rustix stops:
//!
//! * `recvmsg(2)` — rustix's ancillary-data parser does not know `SCM_PIDFD`
//!   and silently drops (leaks) such descriptors, so [`recv_notify`] parses
//!   the control messages itself and turns *every* received descriptor into an
//!   [`OwnedFd`] straight away.
//! * `clone3(2)` — not wrapped by rustix or glibc. Note that the `libc`
//!   crate's `CLONE_INTO_CGROUP` constant is wrong; [`CLONE_INTO_CGROUP`] here
//!   carries the kernel's value (`0x200000000`).
//! * `ioctl(2)` `PIDFD_GET_INFO`, and the `SO_PASSPIDFD` / `SO_PEERPIDFD`
//!   socket options, which neither crate wraps.
//!
//! All descriptors created here are close-on-exec.

#![deny(missing_docs)]

use std::convert::Infallible;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io;
use std::mem::{self, MaybeUninit};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use rustix::process::{Pid, PidfdFlags, WaitId, WaitIdOptions};

// ---------------------------------------------------------------------------
// Constants the libc crate lacks or gets wrong.
// ---------------------------------------------------------------------------

/// `SCM_PIDFD`: control-message type carrying a pidfd for the sender of a
/// unix-socket message (Linux 6.5+), see `unix(7)`.
pub const SCM_PIDFD: c_int = 4;
/// `SO_PASSPIDFD`: ask the kernel to attach an `SCM_PIDFD` message to every
/// received datagram (Linux 6.5+), see `unix(7)`.
pub const SO_PASSPIDFD: c_int = 76;
/// `SO_PEERPIDFD`: obtain a pidfd for the peer of a connected unix socket
/// (Linux 6.5+), see `unix(7)`.
pub const SO_PEERPIDFD: c_int = 77;
/// `CLONE_PIDFD`: make `clone3(2)` return a pidfd for the child.
pub const CLONE_PIDFD: u64 = 0x1000;
/// `CLONE_INTO_CGROUP`: start the child directly in the cgroup given by
/// `clone_args.cgroup` (Linux 5.7+). The `libc` crate's constant of the same
/// name has the wrong value; this is the kernel's.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `PIDFD_INFO_PID`: the `pid`, `tgid` and `ppid` fields are valid.
pub const PIDFD_INFO_PID: u64 = 1 << 0;
/// `PIDFD_INFO_CREDS`: the credential fields are valid.
pub const PIDFD_INFO_CREDS: u64 = 1 << 1;
/// `PIDFD_INFO_CGROUPID`: the `cgroupid` field is valid.
pub const PIDFD_INFO_CGROUPID: u64 = 1 << 2;
/// `PIDFD_INFO_EXIT`: the `exit_code` field is valid (Linux 6.15+). Must be
/// *requested* to get any information at all about an already reaped process.
pub const PIDFD_INFO_EXIT: u64 = 1 << 3;
/// `PIDFD_INFO_COREDUMP`: the `coredump_mask` field is valid (Linux 6.16+).
pub const PIDFD_INFO_COREDUMP: u64 = 1 << 4;

/// Size of the first published `struct pidfd_info` (Linux 6.13).
pub const PIDFD_INFO_SIZE_VER0: usize = 64;
/// Size of the second published `struct pidfd_info` (adds `exit_code` and
/// `coredump_mask`), which is `sizeof(struct pidfd_info)` on Linux 6.18.
pub const PIDFD_INFO_SIZE_VER1: usize = 72;

/// `PIDFS_MAGIC`: `statfs(2)` `f_type` of the pidfs file system (Linux 6.9+).
pub const PIDFS_MAGIC: u64 = 0x5049_4446;

/// `SCM_MAX_FD`: the kernel refuses (`EINVAL`) to carry more than this many
/// descriptors in one unix-socket message, however many `SCM_RIGHTS`
/// messages they are split into.
pub const SCM_MAX_FD: usize = 253;

/// Number of descriptors [`ControlBuffer::new`] makes room for, as systemd's
/// notify socket does. This is more than [`SCM_MAX_FD`], so a default buffer
/// never truncates descriptors a sender could legally attach.
pub const NOTIFY_FD_MAX: usize = 768;

// ---------------------------------------------------------------------------
// recvmsg(2) for the notify socket.
// ---------------------------------------------------------------------------

/// Sender credentials from an `SCM_CREDENTIALS` control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ucred {
    /// Process id of the sender (in the receiver's pid namespace).
    pub pid: i32,
    /// User id of the sender.
    pub uid: u32,
    /// Group id of the sender.
    pub gid: u32,
}

/// The result of one [`recv_notify`] call.
#[derive(Debug)]
pub struct Received {
    /// Number of payload bytes stored in the caller's data buffer.
    pub len: usize,
    /// The datagram was larger than the data buffer (`MSG_TRUNC`); the excess
    /// was discarded by the kernel.
    pub truncated: bool,
    /// The control buffer was too small (`MSG_CTRUNC`): some control
    /// messages were discarded by the kernel, which closes descriptors it
    /// could not deliver. The kernel writes `SCM_CREDENTIALS` first, then
    /// `SCM_SECURITY`, then `SCM_RIGHTS` (as many descriptors as fit) and
    /// `SCM_PIDFD` *last*, so the pidfd is the first thing lost: treat a
    /// truncated message as untrustworthy.
    pub ctrunc: bool,
    /// Sender credentials, if `SO_PASSCRED` is on.
    pub creds: Option<Ucred>,
    /// A pidfd for the sender, if `SO_PASSPIDFD` is on and the kernel
    /// supplied one.
    pub pidfd: Option<OwnedFd>,
    /// Number of descriptors appended to the caller's vector (`SCM_RIGHTS`).
    pub n_fds: usize,
}

/// A reusable, correctly aligned buffer for ancillary data.
///
/// Allocated once and reused for every message, so that receiving needs no
/// allocation per datagram. Sized as the sum of the `CMSG_SPACE`s of
/// `SCM_CREDENTIALS`, `SCM_PIDFD` and the descriptors; since a sender can
/// attach at most [`SCM_MAX_FD`] descriptors, [`ControlBuffer::new`] also
/// leaves room for an `SCM_SECURITY` label.
#[derive(Debug)]
pub struct ControlBuffer {
    // u64 elements give at least the alignment of `struct cmsghdr`.
    buf: Box<[u64]>,
    bytes: usize,
}

impl ControlBuffer {
    /// A buffer with room for `SCM_CREDENTIALS`, `SCM_PIDFD` and
    /// [`NOTIFY_FD_MAX`] descriptors.
    pub fn new() -> Self {
        Self::with_fd_capacity(NOTIFY_FD_MAX)
    }

    /// A buffer with room for `SCM_CREDENTIALS`, `SCM_PIDFD` and `n_fds`
    /// descriptors (each message type accounted for by its `CMSG_SPACE`).
    pub fn with_fd_capacity(n_fds: usize) -> Self {
        let bytes = cmsg_space(mem::size_of::<libc::ucred>())
            + cmsg_space(mem::size_of::<c_int>())
            + cmsg_space(n_fds * mem::size_of::<c_int>());
        let words = bytes.div_ceil(mem::size_of::<u64>());
        ControlBuffer {
            buf: vec![0u64; words].into_boxed_slice(),
            bytes,
        }
    }

    /// Size of the buffer in bytes, as passed to the kernel.
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// Whether the buffer has no room at all (never true for the constructors
    /// above).
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }
}

impl Default for ControlBuffer {
    fn default() -> Self {
        Self::new()
    }
}

fn cmsg_space(len: usize) -> usize {
    let len = u32::try_from(len).expect("control message payload too large");
    // SAFETY: CMSG_SPACE is pure arithmetic on its argument.
    unsafe { libc::CMSG_SPACE(len) as usize }
}

fn cmsg_len(len: usize) -> usize {
    let len = u32::try_from(len).expect("control message payload too large");
    // SAFETY: CMSG_LEN is pure arithmetic on its argument.
    unsafe { libc::CMSG_LEN(len) as usize }
}

/// Receive one notification datagram without blocking.
///
/// Issues `recvmsg(2)` with `MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC` (see
/// `recvmsg(2)`, `unix(7)`, `cmsg(3)`), so the true datagram length is known.
/// Payload goes to `data`; at most `data.len()` bytes are stored.
///
/// `fds` is cleared first (closing whatever it held) and then receives every
/// `SCM_RIGHTS` descriptor, each already an [`OwnedFd`]. Every descriptor the
/// kernel installed — `SCM_RIGHTS` and `SCM_PIDFD` alike — is owned before
/// this function returns, also when the datagram or the control data was
/// truncated, so dropping the result and the vector closes them all. Keep
/// reusing the same vector and [`ControlBuffer`]: in the common case of a
/// message without descriptors, this call allocates nothing.
///
/// Returns `ErrorKind::WouldBlock` when no datagram is queued.
pub fn recv_notify(
    sock: BorrowedFd<'_>,
    data: &mut [u8],
    control: &mut ControlBuffer,
    fds: &mut Vec<OwnedFd>,
) -> io::Result<Received> {
    fds.clear();

    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast::<c_void>(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is a plain C struct for which all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf.as_mut_ptr().cast::<c_void>();
    msg.msg_controllen = control.bytes as _;

    let flags = libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC | libc::MSG_TRUNC;
    let n = loop {
        // SAFETY: msg points to a valid iovec describing `data` and to the
        // control buffer, both exclusively borrowed for the duration of the
        // call; the kernel writes at most iov_len / msg_controllen bytes.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };

    let mut out = Received {
        len: n.min(data.len()),
        truncated: n > data.len() || msg.msg_flags & libc::MSG_TRUNC != 0,
        ctrunc: msg.msg_flags & libc::MSG_CTRUNC != 0,
        creds: None,
        pidfd: None,
        n_fds: 0,
    };

    // Walk the control messages by hand, bounded by what the kernel reported
    // as used, and take ownership of every descriptor immediately.
    let base = control.buf.as_ptr().cast::<u8>();
    let used = (msg.msg_controllen as usize).min(control.bytes);
    let hdr_len = mem::size_of::<libc::cmsghdr>();
    let data_off = cmsg_len(0);
    let mut off = 0usize;
    while off + hdr_len <= used {
        // SAFETY: off + hdr_len <= used <= buffer size, and off is a multiple
        // of the cmsghdr alignment (CMSG_ALIGN steps below, buffer is u64
        // aligned), so this is an aligned read of initialised memory.
        let hdr: libc::cmsghdr = unsafe { ptr::read(base.add(off).cast::<libc::cmsghdr>()) };
        let clen = hdr.cmsg_len as usize;
        let avail = used - off;
        if clen < data_off || avail < data_off {
            break;
        }
        // Never read beyond the part of the buffer the kernel filled.
        let payload_len = clen.min(avail) - data_off;
        // SAFETY: off + data_off <= used <= buffer size, so the pointer stays
        // inside the buffer.
        let payload = unsafe { base.add(off + data_off) };
        if hdr.cmsg_level == libc::SOL_SOCKET {
            match hdr.cmsg_type {
                libc::SCM_RIGHTS => {
                    let count = payload_len / mem::size_of::<c_int>();
                    for i in 0..count {
                        // SAFETY: i * 4 + 4 <= payload_len, inside the filled
                        // part of the buffer; read_unaligned needs no alignment.
                        let raw: c_int = unsafe {
                            ptr::read_unaligned(payload.add(i * mem::size_of::<c_int>()).cast())
                        };
                        if raw >= 0 {
                            // SAFETY: the kernel just installed this descriptor
                            // for us via SCM_RIGHTS; nothing else owns it.
                            fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
                            out.n_fds += 1;
                        }
                    }
                }
                SCM_PIDFD if payload_len >= mem::size_of::<c_int>() => {
                    // SAFETY: at least 4 bytes of filled payload are present.
                    let raw: c_int = unsafe { ptr::read_unaligned(payload.cast()) };
                    if raw >= 0 {
                        // SAFETY: the kernel just installed this pidfd for us;
                        // nothing else owns it. A (theoretical) second one
                        // replaces the first, which is then closed.
                        out.pidfd = Some(unsafe { OwnedFd::from_raw_fd(raw) });
                    }
                }
                libc::SCM_CREDENTIALS if payload_len >= mem::size_of::<libc::ucred>() => {
                    // SAFETY: a full struct ucred of filled payload is present.
                    let c: libc::ucred = unsafe { ptr::read_unaligned(payload.cast()) };
                    out.creds = Some(Ucred {
                        pid: c.pid,
                        uid: c.uid,
                        gid: c.gid,
                    });
                }
                _ => {}
            }
        }
        // CMSG_ALIGN(cmsg_len): step to the next header.
        let step = cmsg_space(clen - data_off);
        if step == 0 {
            break;
        }
        off += step;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// The notify socket.
// ---------------------------------------------------------------------------

/// A bound notify socket, see [`notify_socket_bind`].
#[derive(Debug)]
pub struct NotifySocket {
    /// The socket: `AF_UNIX`, `SOCK_DGRAM`, close-on-exec, non-blocking.
    pub fd: OwnedFd,
    /// Whether `SO_PASSPIDFD` could be enabled, i.e. whether received
    /// messages will carry an `SCM_PIDFD` (Linux 6.5+).
    pub passes_pidfd: bool,
    /// The receive buffer size the kernel reports after setting it (the
    /// kernel doubles the requested value for bookkeeping).
    pub recv_buffer: usize,
}

/// Receive buffer size requested by [`notify_socket_bind`]: 8 MiB.
pub const NOTIFY_RCVBUF: usize = 8 * 1024 * 1024;

/// Create and bind the manager's notify socket.
///
/// `socket(2)` `AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK`, `bind(2)`
/// to `addr` (a path or an abstract name, see `unix(7)`), then
/// `setsockopt(2)`: `SO_PASSCRED` on; `SO_PASSPIDFD` on if the kernel knows it
/// (reported in [`NotifySocket::passes_pidfd`]); receive buffer of
/// [`NOTIFY_RCVBUF`] via `SO_RCVBUFFORCE`, falling back to `SO_RCVBUF` (capped
/// by `net.core.rmem_max`) when not privileged; a failing fallback is ignored.
///
/// Removing a stale socket file before binding and making the socket file
/// reachable (e.g. `chmod 0777` so unprivileged services can send) are the
/// caller's business.
pub fn notify_socket_bind(addr: &SocketAddrUnix) -> io::Result<NotifySocket> {
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    rustix::net::bind(&fd, addr)?;
    rustix::net::sockopt::set_socket_passcred(&fd, true)?;
    let passes_pidfd = match set_passpidfd(fd.as_fd(), true) {
        Ok(()) => true,
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOPROTOOPT) | Some(libc::EINVAL)
            ) =>
        {
            false
        }
        Err(e) => return Err(e),
    };
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(&fd, NOTIFY_RCVBUF).is_err() {
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&fd, NOTIFY_RCVBUF);
    }
    let recv_buffer = rustix::net::sockopt::socket_recv_buffer_size(&fd)?;
    Ok(NotifySocket {
        fd,
        passes_pidfd,
        recv_buffer,
    })
}

/// Turn `SO_PASSPIDFD` on or off on a unix socket: `setsockopt(2)`, see
/// `unix(7)`. Fails with `ENOPROTOOPT` on kernels before 6.5.
pub fn set_passpidfd(sock: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let val: c_int = on.into();
    // SAFETY: passes a pointer to a live c_int and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PASSPIDFD,
            ptr::addr_of!(val).cast::<c_void>(),
            mem::size_of::<c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A pidfd for the peer of a connected unix socket: `getsockopt(2)`
/// `SO_PEERPIDFD`, see `unix(7)` (Linux 6.5+). The descriptor is close-on-exec.
pub fn peer_pidfd(sock: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut val: c_int = -1;
    let mut len = mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: passes a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PEERPIDFD,
            ptr::addr_of_mut!(val).cast::<c_void>(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if val < 0 || len as usize != mem::size_of::<c_int>() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: the kernel installed this pidfd for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(val) })
}

// ---------------------------------------------------------------------------
// pidfds.
// ---------------------------------------------------------------------------

/// The kernel's `struct pidfd_info` as of Linux 6.18 ([`PIDFD_INFO_SIZE_VER1`]
/// bytes). Newer kernels may append fields; the kernel copies only what fits
/// in the size encoded in the ioctl number, and older kernels zero the tail.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct RawPidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    exit_code: i32,
    coredump_mask: u32,
    spare1: u32,
}

const _: () = assert!(mem::size_of::<RawPidfdInfo>() == PIDFD_INFO_SIZE_VER1);

/// `PIDFD_GET_INFO` = `_IOWR(0xFF, 11, struct pidfd_info)` with the 6.18
/// struct size of 72 bytes encoded (`0xC048FF0B` with the generic ioctl
/// encoding of x86 and arm). The kernel accepts any size of at least
/// [`PIDFD_INFO_SIZE_VER0`] and copies only what both sides know.
pub const PIDFD_GET_INFO: rustix::ioctl::Opcode =
    rustix::ioctl::opcode::read_write::<RawPidfdInfo>(0xFF, 11);

/// Information about a process, from [`pidfd_info`].
///
/// Only fields whose bit is set in [`mask`](Self::mask) are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidfdInfo {
    /// `PIDFD_INFO_*` bits the kernel filled in.
    pub mask: u64,
    /// cgroup v2 id of the process's cgroup (`PIDFD_INFO_CGROUPID`); for an
    /// exited process, the cgroup it exited in.
    pub cgroupid: u64,
    /// Process id (`PIDFD_INFO_PID`).
    pub pid: u32,
    /// Thread-group id (`PIDFD_INFO_PID`).
    pub tgid: u32,
    /// Parent process id (`PIDFD_INFO_PID`).
    pub ppid: u32,
    /// Real user id (`PIDFD_INFO_CREDS`).
    pub ruid: u32,
    /// Real group id (`PIDFD_INFO_CREDS`).
    pub rgid: u32,
    /// Effective user id (`PIDFD_INFO_CREDS`).
    pub euid: u32,
    /// Effective group id (`PIDFD_INFO_CREDS`).
    pub egid: u32,
    /// Saved user id (`PIDFD_INFO_CREDS`).
    pub suid: u32,
    /// Saved group id (`PIDFD_INFO_CREDS`).
    pub sgid: u32,
    /// File-system user id (`PIDFD_INFO_CREDS`).
    pub fsuid: u32,
    /// File-system group id (`PIDFD_INFO_CREDS`).
    pub fsgid: u32,
    /// Raw wait status as in `waitpid(2)` (`PIDFD_INFO_EXIT`).
    pub exit_code: i32,
    /// `PIDFD_COREDUMP*` bits (`PIDFD_INFO_COREDUMP`).
    pub coredump_mask: u32,
}

impl PidfdInfo {
    /// Whether all bits of `bits` are set in [`mask`](Self::mask).
    pub fn has(&self, bits: u64) -> bool {
        self.mask & bits == bits
    }

    /// The cgroup id, if the kernel supplied it.
    pub fn cgroup_id(&self) -> Option<u64> {
        self.has(PIDFD_INFO_CGROUPID).then_some(self.cgroupid)
    }

    /// The raw wait status, if the process has exited and exit information
    /// was requested.
    pub fn exit_code(&self) -> Option<i32> {
        self.has(PIDFD_INFO_EXIT).then_some(self.exit_code)
    }
}

/// Why [`pidfd_info`] failed.
#[derive(Debug, thiserror::Error)]
pub enum PidfdInfoError {
    /// The kernel does not know `PIDFD_GET_INFO` (before Linux 6.13:
    /// `ENOTTY`, or `EINVAL`); fall back to `/proc`.
    #[error("PIDFD_GET_INFO is not supported by this kernel: {0}")]
    Unsupported(#[source] io::Error),
    /// `ESRCH`: the process has been reaped and `PIDFD_INFO_EXIT` was not
    /// requested (or it is outside our pid namespace). `EREMOTE` on newer
    /// kernels for the latter case is reported as [`PidfdInfoError::Io`].
    #[error("process is gone (reaped, and no exit information requested)")]
    Gone,
    /// Any other failure.
    #[error("PIDFD_GET_INFO failed: {0}")]
    Io(#[from] io::Error),
}

/// Query a process through its pidfd: `ioctl(2)` `PIDFD_GET_INFO` (Linux
/// 6.13+, see `pidfd_open(2)` and `include/uapi/linux/pidfd.h`).
///
/// `mask` holds the `PIDFD_INFO_*` bits asked for. PID, credentials and the
/// cgroup id are returned for a live (or zombie) process whether asked for or
/// not. For a process that has already been **reaped**, the kernel answers
/// only when [`PIDFD_INFO_EXIT`] is requested, and then supplies the exit
/// status and the id of the cgroup the process exited in (Linux 6.15+).
pub fn pidfd_info(pidfd: BorrowedFd<'_>, mask: u64) -> Result<PidfdInfo, PidfdInfoError> {
    let mut raw = RawPidfdInfo {
        mask,
        ..RawPidfdInfo::default()
    };
    // SAFETY: PIDFD_GET_INFO encodes size_of::<RawPidfdInfo>(), so the kernel
    // reads and writes at most that many bytes through the pointer, which
    // refers to a live, exclusively borrowed RawPidfdInfo.
    let rc = unsafe {
        libc::ioctl(
            pidfd.as_raw_fd(),
            PIDFD_GET_INFO as _,
            ptr::addr_of_mut!(raw).cast::<c_void>(),
        )
    };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::ENOTTY) | Some(libc::EINVAL) => PidfdInfoError::Unsupported(err),
            Some(libc::ESRCH) => PidfdInfoError::Gone,
            _ => PidfdInfoError::Io(err),
        });
    }
    Ok(PidfdInfo {
        mask: raw.mask,
        cgroupid: raw.cgroupid,
        pid: raw.pid,
        tgid: raw.tgid,
        ppid: raw.ppid,
        ruid: raw.ruid,
        rgid: raw.rgid,
        euid: raw.euid,
        egid: raw.egid,
        suid: raw.suid,
        sgid: raw.sgid,
        fsuid: raw.fsuid,
        fsgid: raw.fsgid,
        exit_code: raw.exit_code,
        coredump_mask: raw.coredump_mask,
    })
}

/// The cgroup id of a process, also after it has exited and been reaped:
/// [`pidfd_info`] with `PIDFD_INFO_CGROUPID | PIDFD_INFO_EXIT`.
pub fn pidfd_cgroup_id(pidfd: BorrowedFd<'_>) -> Result<u64, PidfdInfoError> {
    let info = pidfd_info(pidfd, PIDFD_INFO_CGROUPID | PIDFD_INFO_EXIT)?;
    info.cgroup_id().ok_or_else(|| {
        PidfdInfoError::Io(io::Error::new(
            io::ErrorKind::Unsupported,
            "kernel returned no cgroup id",
        ))
    })
}

/// The pidfs inode number of a pidfd: `fstatfs(2)` (to check the descriptor
/// lives on pidfs, Linux 6.9+) and `fstat(2)` `st_ino`.
///
/// On pidfs the inode number identifies a process uniquely for the lifetime
/// of the system (it is never reused, unlike PIDs). On older kernels pidfds
/// are anonymous inodes that all share one inode number; then this fails with
/// `EOPNOTSUPP` rather than returning a meaningless value.
pub fn pidfs_inode(pidfd: BorrowedFd<'_>) -> io::Result<u64> {
    let fs = rustix::fs::fstatfs(pidfd)?;
    #[allow(clippy::unnecessary_cast)]
    if fs.f_type as u64 != PIDFS_MAGIC {
        return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
    }
    let st = rustix::fs::fstat(pidfd)?;
    #[allow(clippy::unnecessary_cast)]
    Ok(st.st_ino as u64)
}

/// Open a pidfd for a process: `pidfd_open(2)`. The descriptor is
/// close-on-exec.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    Ok(rustix::process::pidfd_open(pid, PidfdFlags::empty())?)
}

/// Send a signal to the process behind a pidfd: `pidfd_send_signal(2)`.
///
/// Immune to PID reuse. `sig` must be a named signal (`SIGTERM`, `SIGKILL`,
/// …); real-time signals are rejected with `EINVAL`.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    let sig = rustix::process::Signal::from_named_raw(sig)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    Ok(rustix::process::pidfd_send_signal(pidfd, sig)?)
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit(code)`.
    Exited(i32),
    /// It was killed by `signal`.
    Signaled {
        /// The terminating signal.
        signal: i32,
        /// Whether a core dump was written.
        core_dumped: bool,
    },
}

impl ExitStatus {
    /// Whether the process exited with code 0.
    pub fn success(&self) -> bool {
        matches!(self, ExitStatus::Exited(0))
    }
}

fn wait_status(st: &rustix::process::WaitIdStatus) -> ExitStatus {
    if let Some(code) = st.exit_status() {
        ExitStatus::Exited(code)
    } else {
        ExitStatus::Signaled {
            signal: st.terminating_signal().unwrap_or(0),
            core_dumped: st.dumped(),
        }
    }
}

/// Reap a child through its pidfd if it has exited, without blocking:
/// `waitid(2)` `P_PIDFD, WEXITED | WNOHANG`. `Ok(None)`: still running.
/// `ECHILD` if the process is not our child or was already reaped.
pub fn pidfd_try_wait(pidfd: BorrowedFd<'_>) -> io::Result<Option<ExitStatus>> {
    let st = rustix::process::waitid(
        WaitId::PidFd(pidfd),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
    )?;
    Ok(st.as_ref().map(wait_status))
}

/// Wait for a child to exit and reap it through its pidfd: `waitid(2)`
/// `P_PIDFD, WEXITED`. Blocks unless the pidfd is non-blocking.
pub fn pidfd_wait(pidfd: BorrowedFd<'_>) -> io::Result<ExitStatus> {
    loop {
        match rustix::process::waitid(WaitId::PidFd(pidfd), WaitIdOptions::EXITED) {
            Ok(Some(st)) => return Ok(wait_status(&st)),
            Ok(None) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Wait until `fd` is readable (a pidfd becomes readable when its process
/// exits): `poll(2)` `POLLIN`. `timeout` `None` waits forever. Returns whether
/// the descriptor became readable (or reported an error/hang-up).
pub fn poll_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    let ts = timeout.map(|d| rustix::time::Timespec {
        tv_sec: d.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: d.subsec_nanos().into(),
    });
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    loop {
        match rustix::event::poll(&mut fds, ts.as_ref()) {
            Ok(n) => return Ok(n > 0),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Make this process a child subreaper: `prctl(2)` `PR_SET_CHILD_SUBREAPER`.
/// Orphaned descendants are then re-parented to us instead of to PID 1.
pub fn set_child_subreaper(on: bool) -> io::Result<()> {
    let arg = if on { Pid::from_raw(1) } else { None };
    Ok(rustix::process::set_child_subreaper(arg)?)
}

// ---------------------------------------------------------------------------
// clone3(2).
// ---------------------------------------------------------------------------

/// `struct clone_args` as of Linux 5.7 (`CLONE_ARGS_SIZE_VER2`, 88 bytes).
#[repr(C)]
#[derive(Debug, Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const _: () = assert!(mem::size_of::<CloneArgs>() == 88);

/// Restores the calling thread's signal mask on drop.
struct MaskGuard(MaybeUninit<libc::sigset_t>);

impl MaskGuard {
    /// Block all signals in the calling thread, remembering the old mask.
    fn block_all() -> io::Result<Self> {
        let mut old = MaybeUninit::<libc::sigset_t>::uninit();
        let mut all = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigfillset initialises `all`; pthread_sigmask reads `all`
        // and writes the previous mask into `old`.
        let rc = unsafe {
            libc::sigfillset(all.as_mut_ptr());
            libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), old.as_mut_ptr())
        };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(MaskGuard(old))
    }
}

impl Drop for MaskGuard {
    fn drop(&mut self) {
        // SAFETY: self.0 was initialised by pthread_sigmask in block_all.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, self.0.as_ptr(), ptr::null_mut());
        }
    }
}

/// In the child: if the closure unwinds, die instead of returning into the
/// parent's code path.
struct ExitOnUnwind;

impl Drop for ExitOnUnwind {
    fn drop(&mut self) {
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(127) }
    }
}

/// Call a function that cannot return (it returns the uninhabited
/// [`Infallible`]).
#[allow(unreachable_code)]
fn run_diverging<F: FnOnce() -> Infallible>(f: F) -> ! {
    match f() {}
}

/// Raw `clone3(2)` with `CLONE_PIDFD` (and `CLONE_INTO_CGROUP` when a cgroup
/// directory descriptor is given), `exit_signal = SIGCHLD`, fork semantics.
/// Returns the child's pid (0 in the child) and, in the parent, the pidfd.
///
/// # Safety
/// Returns twice. In the child (return value 0) only async-signal-safe work
/// may be done, followed by `execve` or `_exit`; the caller must never return
/// from the child into code that assumes it runs in the parent.
unsafe fn raw_clone3(cgroup: Option<BorrowedFd<'_>>) -> io::Result<(i32, Option<OwnedFd>)> {
    let mut pidfd: c_int = -1;
    let mut args = CloneArgs {
        flags: CLONE_PIDFD,
        pidfd: ptr::addr_of_mut!(pidfd) as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(cg) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cg.as_raw_fd() as u64;
    }
    // SAFETY: args is a valid clone_args of the size passed; without CLONE_VM
    // the child gets a copy-on-write copy of our memory and stack, exactly as
    // with fork(2). The caller upholds the child-side contract.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            ptr::addr_of_mut!(args),
            mem::size_of::<CloneArgs>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if rc == 0 {
        return Ok((0, None));
    }
    // SAFETY: CLONE_PIDFD made the kernel install a new (close-on-exec) pidfd
    // and store its number in `pidfd`; we are its only owner.
    let fd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
    match fd {
        Some(fd) => Ok((rc as i32, Some(fd))),
        None => Err(io::Error::other("clone3 returned no pidfd")),
    }
}

/// Start a child with `clone3(2)` (`CLONE_PIDFD`, plus `CLONE_INTO_CGROUP`
/// when `cgroup` is a cgroup v2 directory descriptor; `exit_signal` =
/// `SIGCHLD`) and run `child` in it. Returns `(pid, pidfd)` in the parent.
///
/// All signals are blocked in the calling thread around the clone, so the
/// child starts with every signal blocked (and the parent's dispositions);
/// the parent's mask is restored afterwards. If `child` unwinds, the child
/// calls `_exit(127)`.
///
/// # Safety
/// `child` (which cannot return normally: it returns [`Infallible`]) runs
/// in a copy of a possibly multi-threaded process in which only
/// the calling thread exists. It must do only async-signal-safe work
/// (`signal-safety(7)`): no allocation, no locks, no stdio, nothing that
/// touches glibc's thread bookkeeping (so no glibc `setuid`, use the raw
/// per-thread syscalls) — and end in `execve` or `_exit`.
pub unsafe fn clone3_with<F: FnOnce() -> Infallible>(
    cgroup: Option<BorrowedFd<'_>>,
    child: F,
) -> io::Result<(i32, OwnedFd)> {
    let mask = MaskGuard::block_all()?;
    // SAFETY: in the child we only run `child` (contract forwarded to our
    // caller) and never return.
    match unsafe { raw_clone3(cgroup) } {
        Ok((0, _)) => {
            let _guard = ExitOnUnwind;
            mem::forget(mask);
            run_diverging(child)
        }
        Ok((pid, Some(fd))) => {
            drop(mask);
            Ok((pid, fd))
        }
        Ok((_, None)) => unreachable!("raw_clone3 returns a pidfd to the parent"),
        Err(e) => {
            drop(mask);
            Err(e)
        }
    }
}

/// Which step of the child's setup before `execve` failed (see
/// [`clone3_exec`]). The numeric codes are what goes over the report pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum SetupStep {
    /// `setsid(2)`.
    Setsid = 1,
    /// `dup2(2)` onto standard input.
    Stdin = 2,
    /// `dup2(2)` onto standard output.
    Stdout = 3,
    /// `dup2(2)` onto standard error.
    Stderr = 4,
    /// `setgroups(2)`.
    Setgroups = 5,
    /// `setgid(2)`.
    Setgid = 6,
    /// `setuid(2)`.
    Setuid = 7,
    /// `chdir(2)`.
    Chdir = 8,
    /// `execve(2)`.
    Execve = 9,
    /// `dup2(2)` of a passed descriptor (socket activation, fd store) onto 3, 4, ….
    PassFds = 10,
}

impl SetupStep {
    /// The step for a code read from the report pipe.
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            1 => Self::Setsid,
            2 => Self::Stdin,
            3 => Self::Stdout,
            4 => Self::Stderr,
            5 => Self::Setgroups,
            6 => Self::Setgid,
            7 => Self::Setuid,
            8 => Self::Chdir,
            9 => Self::Execve,
            10 => Self::PassFds,
            _ => return None,
        })
    }

    /// The system call's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Setsid => "setsid",
            Self::Stdin => "dup2(stdin)",
            Self::Stdout => "dup2(stdout)",
            Self::Stderr => "dup2(stderr)",
            Self::Setgroups => "setgroups",
            Self::Setgid => "setgid",
            Self::Setuid => "setuid",
            Self::Chdir => "chdir",
            Self::Execve => "execve",
            Self::PassFds => "dup2(passed fd)",
        }
    }
}

/// Length of one failure report on the exec-report pipe: the step code and
/// the errno, each 4 bytes in native byte order.
pub const EXEC_REPORT_LEN: usize = 8;

/// Everything the child of [`clone3_exec`] needs, prepared in the parent so
/// that the child allocates nothing.
///
/// All descriptors must be numbered 3 or higher (so `dup2` onto 0–2 cannot
/// clobber a source); [`ExecPlan::new`] and [`ExecPlan::set_stdio`] check it.
pub struct ExecPlan<'fd> {
    program: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    _env: Vec<CString>,
    env_ptrs: Vec<*const c_char>,
    cwd: Option<CString>,
    groups: Option<Vec<rustix::process::Gid>>,
    gid: Option<rustix::process::Gid>,
    uid: Option<rustix::process::Uid>,
    stdio: [Option<BorrowedFd<'fd>>; 3],
    report: BorrowedFd<'fd>,
    pid_vars: Vec<PidVar>,
    pass_fds: Vec<BorrowedFd<'fd>>,
}

/// An environment variable whose value is the child's own PID (`WATCHDOG_PID`), which
/// only the child knows: the buffer is allocated before the clone, the child writes its
/// PID into its own copy of it.
struct PidVar {
    buf: Box<std::cell::UnsafeCell<[u8; 64]>>,
    prefix_len: usize,
}

impl std::fmt::Debug for PidVar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PidVar")
            .field("prefix_len", &self.prefix_len)
            .finish()
    }
}

impl std::fmt::Debug for ExecPlan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecPlan")
            .field("program", &self.program)
            .field("argv", &self._argv)
            .field("env", &self._env)
            .field("cwd", &self.cwd)
            .field("groups", &self.groups)
            .field("gid", &self.gid)
            .field("uid", &self.uid)
            .field("stdio", &self.stdio)
            .field("report", &self.report)
            .finish()
    }
}

fn check_above_stdio(fd: BorrowedFd<'_>) -> io::Result<()> {
    if fd.as_raw_fd() < 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "descriptor for the child must be numbered 3 or higher",
        ));
    }
    Ok(())
}

fn ptr_array(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect()
}

impl<'fd> ExecPlan<'fd> {
    /// A plan to `execve(program, argv, env)`. Failures before or at
    /// `execve` are written to `report` (the write end of a close-on-exec
    /// pipe), see [`SetupStep`].
    pub fn new(
        program: CString,
        argv: Vec<CString>,
        env: Vec<CString>,
        report: BorrowedFd<'fd>,
    ) -> io::Result<Self> {
        check_above_stdio(report)?;
        // The pointers refer to the CStrings' heap buffers, which do not move
        // when the vectors are moved into the struct.
        let argv_ptrs = ptr_array(&argv);
        let env_ptrs = ptr_array(&env);
        Ok(ExecPlan {
            program,
            _argv: argv,
            argv_ptrs,
            _env: env,
            env_ptrs,
            cwd: None,
            groups: None,
            gid: None,
            uid: None,
            stdio: [None, None, None],
            report,
            pid_vars: Vec::new(),
            pass_fds: Vec::new(),
        })
    }

    /// Adds `NAME=<the child's PID>` to the environment (e.g. `WATCHDOG_PID`).
    pub fn set_env_own_pid(&mut self, name: &str) -> io::Result<()> {
        // NAME, '=', up to 10 digits and the NUL must fit.
        if name.len() + 12 > 64 || name.contains('=') || name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "environment variable name",
            ));
        }
        let mut bytes = [0u8; 64];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        bytes[name.len()] = b'=';
        let var = PidVar {
            buf: Box::new(std::cell::UnsafeCell::new(bytes)),
            prefix_len: name.len() + 1,
        };
        // Before the terminating NULL of the pointer array.
        let at = self.env_ptrs.len() - 1;
        self.env_ptrs
            .insert(at, var.buf.get().cast::<c_char>().cast_const());
        self.pid_vars.push(var);
        Ok(())
    }

    /// Descriptors the child gets as 3, 4, … (without close-on-exec). Every descriptor
    /// of the plan (these, stdio sources, the report pipe) must be numbered at least
    /// `3 + fds.len()`, so that placing one cannot overwrite another.
    pub fn set_pass_fds(&mut self, fds: Vec<BorrowedFd<'fd>>) -> io::Result<()> {
        let floor = 3 + fds.len() as c_int;
        let mut all = fds
            .iter()
            .copied()
            .chain(self.stdio.iter().flatten().copied())
            .chain([self.report]);
        if all.any(|fd| fd.as_raw_fd() < floor) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "descriptors must be numbered above the passed-descriptor range",
            ));
        }
        self.pass_fds = fds;
        Ok(())
    }

    /// Set the working directory (`chdir(2)` after dropping privileges).
    pub fn set_cwd(&mut self, cwd: Option<CString>) {
        self.cwd = cwd;
    }

    /// Set credentials: `setgroups(groups)` (when `groups` is `Some`), then
    /// `setgid`, then `setuid`, each only when given.
    pub fn set_credentials(&mut self, uid: Option<u32>, gid: Option<u32>, groups: Option<&[u32]>) {
        self.uid = uid.map(rustix::process::Uid::from_raw_unchecked);
        self.gid = gid.map(rustix::process::Gid::from_raw_unchecked);
        self.groups = groups.map(|g| {
            g.iter()
                .copied()
                .map(rustix::process::Gid::from_raw_unchecked)
                .collect()
        });
    }

    /// Use `fd` as standard stream `n` (0, 1 or 2) of the child; `None`
    /// inherits the parent's.
    pub fn set_stdio(&mut self, n: usize, fd: Option<BorrowedFd<'fd>>) -> io::Result<()> {
        if n > 2 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "stdio index must be 0, 1 or 2",
            ));
        }
        if let Some(fd) = fd {
            check_above_stdio(fd)?;
        }
        self.stdio[n] = fd;
        Ok(())
    }

    /// Child side: never returns.
    fn run_child(&self) -> ! {
        // Reset every signal disposition to the default (the manager may
        // ignore SIGPIPE or have handlers; ignored signals would otherwise
        // stay ignored across execve), then unblock everything. The raw
        // rt_sigaction syscall is used because glibc's sigaction refuses to
        // touch its internal signals 32 and 33. An all-zero kernel
        // `struct sigaction` means SIG_DFL, no flags, empty mask on every
        // architecture; the array is larger than any arch's struct. Errors
        // (SIGKILL, SIGSTOP) are expected and ignored.
        let dfl = [0u64; 8];
        // SAFETY: rt_sigaction reads at most sizeof(struct sigaction) bytes
        // from `dfl`, a live zeroed local, and writes nothing (old = NULL);
        // sigemptyset/pthread_sigmask only touch the local `empty`. All are
        // async-signal-safe.
        unsafe {
            for sig in 1..=KERNEL_NSIG {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::syscall(
                        libc::SYS_rt_sigaction,
                        sig as libc::c_long,
                        dfl.as_ptr(),
                        ptr::null_mut::<c_void>(),
                        KERNEL_SIGSET_SIZE,
                    );
                }
            }
            let mut empty = MaybeUninit::<libc::sigset_t>::uninit();
            libc::sigemptyset(empty.as_mut_ptr());
            libc::pthread_sigmask(libc::SIG_SETMASK, empty.as_ptr(), ptr::null_mut());
        }

        // SAFETY: setsid is async-signal-safe.
        if unsafe { libc::setsid() } < 0 {
            self.fail(SetupStep::Setsid, last_errno());
        }

        let steps = [SetupStep::Stdin, SetupStep::Stdout, SetupStep::Stderr];
        for (target, (src, step)) in self.stdio.iter().zip(steps).enumerate() {
            if let Some(src) = src {
                // SAFETY: dup2 is async-signal-safe; src >= 3 (checked when
                // the plan was built) and the target is 0, 1 or 2. dup2
                // clears close-on-exec on the target.
                if unsafe { libc::dup2(src.as_raw_fd(), target as c_int) } < 0 {
                    self.fail(step, last_errno());
                }
            }
        }

        // Raw per-thread syscalls (rustix), not glibc's process-wide setxid
        // machinery, which would try to signal the parent's other threads.
        if let Some(groups) = &self.groups {
            if let Err(e) = rustix::thread::set_thread_groups(groups) {
                self.fail(SetupStep::Setgroups, e.raw_os_error());
            }
        }
        if let Some(gid) = self.gid {
            if let Err(e) = rustix::thread::set_thread_gid(gid) {
                self.fail(SetupStep::Setgid, e.raw_os_error());
            }
        }
        if let Some(uid) = self.uid {
            if let Err(e) = rustix::thread::set_thread_uid(uid) {
                self.fail(SetupStep::Setuid, e.raw_os_error());
            }
        }
        if let Some(cwd) = &self.cwd {
            // SAFETY: chdir is async-signal-safe; cwd is NUL-terminated.
            if unsafe { libc::chdir(cwd.as_ptr()) } < 0 {
                self.fail(SetupStep::Chdir, last_errno());
            }
        }
        for (i, src) in self.pass_fds.iter().enumerate() {
            // SAFETY: dup2 is async-signal-safe; every source is numbered above the
            // targets 3..3+n (checked in set_pass_fds), so no target overwrites a
            // source. dup2 clears close-on-exec on the target.
            if unsafe { libc::dup2(src.as_raw_fd(), 3 + i as c_int) } < 0 {
                self.fail(SetupStep::PassFds, last_errno());
            }
        }
        for var in &self.pid_vars {
            let mut pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
            let mut digits = [0u8; 10];
            let mut n = 0;
            loop {
                digits[n] = b'0' + (pid % 10) as u8;
                n += 1;
                pid /= 10;
                if pid == 0 {
                    break;
                }
            }
            // SAFETY: this is the child's own copy of the buffer (the clone copied
            // the address space); nothing else in the child refers to it but the
            // environment pointer, which is only read by execve below. The prefix
            // leaves room for 10 digits and the NUL (checked in set_env_own_pid).
            let buf = unsafe { &mut *var.buf.get() };
            for i in 0..n {
                buf[var.prefix_len + i] = digits[n - 1 - i];
            }
            buf[var.prefix_len + n] = 0;
        }
        // SAFETY: execve is async-signal-safe; program is NUL-terminated and
        // both pointer arrays are NULL-terminated arrays of NUL-terminated
        // strings that live in this (copied) address space.
        unsafe {
            libc::execve(
                self.program.as_ptr(),
                self.argv_ptrs.as_ptr(),
                self.env_ptrs.as_ptr(),
            );
        }
        self.fail(SetupStep::Execve, last_errno())
    }

    /// Child side: report the failed step and `_exit(127)`.
    fn fail(&self, step: SetupStep, errno: i32) -> ! {
        let mut buf = [0u8; EXEC_REPORT_LEN];
        buf[..4].copy_from_slice(&(step as u32).to_ne_bytes());
        buf[4..].copy_from_slice(&errno.to_ne_bytes());
        loop {
            // SAFETY: write is async-signal-safe; buf is a live local array.
            let rc = unsafe {
                libc::write(
                    self.report.as_raw_fd(),
                    buf.as_ptr().cast::<c_void>(),
                    buf.len(),
                )
            };
            if rc >= 0 || last_errno() != libc::EINTR {
                break;
            }
        }
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(127) }
    }
}

/// Highest signal number of the kernel (`_NSIG`).
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
const KERNEL_NSIG: c_int = 128;
#[cfg(not(any(target_arch = "mips", target_arch = "mips64")))]
const KERNEL_NSIG: c_int = 64;
/// `sizeof(kernel sigset_t)`, the last argument of `rt_sigaction(2)`.
const KERNEL_SIGSET_SIZE: usize = KERNEL_NSIG as usize / 8;

fn last_errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Start a process as described by `plan` with `clone3(2)` (see
/// [`clone3_with`]; into the cgroup `cgroup` when given) and `execve(2)` it.
///
/// The child, in this order: resets all signal dispositions to default and
/// unblocks all signals (`sigaction(2)`, `sigprocmask(2)`); `setsid(2)`;
/// `dup2(2)`s the given standard streams; `setgroups(2)`, `setgid(2)`,
/// `setuid(2)` when given; `chdir(2)` when given; `execve(2)`. It closes
/// nothing else explicitly: every other descriptor is expected to be
/// close-on-exec. On failure it writes `(step, errno)` to the report pipe and
/// calls `_exit(127)`. Returns `(pid, pidfd)`.
pub fn clone3_exec(
    plan: &ExecPlan<'_>,
    cgroup: Option<BorrowedFd<'_>>,
) -> io::Result<(i32, OwnedFd)> {
    // SAFETY: run_child only issues async-signal-safe system calls on data
    // prepared before the clone, allocates nothing, and ends in execve or
    // _exit.
    unsafe { clone3_with(cgroup, || -> Infallible { plan.run_child() }) }
}

/// Whether `fd` refers to an open file description that will be closed on
/// `execve` (`fcntl(2)` `F_GETFD`).
pub fn is_cloexec(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(rustix::io::fcntl_getfd(fd)?.contains(rustix::io::FdFlags::CLOEXEC))
}

impl ExecPlan<'_> {
    /// The program that will be executed.
    pub fn program(&self) -> &CStr {
        &self.program
    }
}

// ---------------------------------------------------------------------------
// Signals as file descriptors.
// ---------------------------------------------------------------------------

/// Blocks `signals` for the calling thread (`sigprocmask(2)` `SIG_BLOCK`) and returns a
/// `signalfd(2)` (non-blocking, close-on-exec) that becomes readable when one is
/// pending, so the event loop handles signals in order with everything else.
///
/// Call it before starting any thread, so every later thread inherits the mask.
pub fn signalfd_for(signals: &[c_int]) -> io::Result<OwnedFd> {
    // SAFETY: `set` is a local, fully initialised by sigemptyset before any use;
    // sigprocmask and signalfd only read it; the returned fd is new and owned here.
    unsafe {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(set.as_mut_ptr());
        let mut set = set.assume_init();
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        if libc::sigprocmask(libc::SIG_BLOCK, &set, ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Reads one pending signal from a signalfd: `Ok(Some(signo))`, or `Ok(None)` when
/// none is pending.
pub fn read_signal(fd: BorrowedFd<'_>) -> io::Result<Option<c_int>> {
    // `struct signalfd_siginfo` is 128 bytes; `ssi_signo` is its first u32.
    let mut buf = [0u8; 128];
    match rustix::io::read(fd, &mut buf) {
        Ok(128) => Ok(Some(
            u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as c_int
        )),
        Ok(n) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("short signalfd read of {n} bytes"),
        )),
        Err(rustix::io::Errno::AGAIN) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Receives with `MSG_PEEK` only the sender's credentials of the next datagram, without
/// dequeuing it (`recvmsg(2)` with a zero-length buffer). `Ok(None)`: nothing queued.
///
/// The manager uses this to decide, before reading a datagram for real, whether it
/// needs the kernel to attach a pidfd for it (see `receiver.rs`).
pub fn peek_sender(sock: BorrowedFd<'_>) -> io::Result<Option<Ucred>> {
    let mut control = [0u64; 8]; // room for one SCM_CREDENTIALS (and an SCM_PIDFD)
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 0,
    };
    // SAFETY: msghdr points at locals that outlive the call; the kernel writes at most
    // msg_controllen bytes of control data into `control`, which is 8-byte aligned.
    let (n, hdr) = unsafe {
        let mut hdr: libc::msghdr = mem::zeroed();
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = control.as_mut_ptr().cast();
        hdr.msg_controllen = mem::size_of_val(&control);
        let n = libc::recvmsg(
            sock.as_raw_fd(),
            &mut hdr,
            libc::MSG_PEEK | libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
        );
        (n, hdr)
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EAGAIN) {
            return Ok(None);
        }
        return Err(e);
    }
    let mut creds = None;
    // SAFETY: walking the control buffer the kernel filled, with the CMSG_* macros,
    // bounded by msg_controllen; the pidfd case is never asked for (SO_PASSPIDFD is
    // off while peeking), but any fd found is closed so none leaks.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&hdr);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == libc::SCM_CREDENTIALS {
                let uc: libc::ucred = ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                creds = Some(Ucred {
                    pid: uc.pid,
                    uid: uc.uid,
                    gid: uc.gid,
                });
            } else if c.cmsg_level == libc::SOL_SOCKET
                && (c.cmsg_type == SCM_PIDFD || c.cmsg_type == libc::SCM_RIGHTS)
            {
                let data = libc::CMSG_DATA(cmsg);
                let len = c.cmsg_len as usize - (data as usize - cmsg as usize);
                for i in 0..len / mem::size_of::<c_int>() {
                    let fd: c_int = ptr::read_unaligned(data.cast::<c_int>().add(i));
                    drop(OwnedFd::from_raw_fd(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&hdr, cmsg);
        }
    }
    Ok(creds)
}

/// Borrows one of the manager's own fds by number, for a call that only needs the
/// number (epoll registration of an fd the caller owns).
pub fn borrow_fd(fd: c_int) -> BorrowedFd<'static> {
    // SAFETY: callers pass fds they own and keep open for the duration of the call
    // (epoll_ctl copies the number; it does not keep the borrow).
    unsafe { BorrowedFd::borrow_raw(fd) }
}
