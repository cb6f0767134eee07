//! `recv_notify` and the notify socket.

mod os_common;

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use herald_manager::sys::{self, ControlBuffer, SCM_MAX_FD};
use rustix::net::{
    AddressFamily, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketAddrUnix,
    SocketFlags, SocketType,
};

/// A datagram socket pair `(receiver, sender)`.
fn dgram_pair() -> (OwnedFd, OwnedFd) {
    rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap()
}

/// Send `data` with the descriptors split into `SCM_RIGHTS` messages of at
/// most `per_msg` each.
fn send_with_fds(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
    per_msg: usize,
) -> rustix::io::Result<usize> {
    let chunks: Vec<&[BorrowedFd<'_>]> = fds.chunks(per_msg.max(1)).collect();
    let space: usize = chunks
        .iter()
        .map(|c| rustix::cmsg_space!(ScmRights(c.len())))
        .sum::<usize>()
        + 64;
    let mut space = vec![MaybeUninit::<u8>::uninit(); space];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    for c in &chunks {
        assert!(anc.push(SendAncillaryMessage::ScmRights(c)));
    }
    rustix::net::sendmsg(sock, &[IoSlice::new(data)], &mut anc, SendFlags::empty())
}

fn send(sock: BorrowedFd<'_>, data: &[u8]) {
    rustix::net::send(sock, data, SendFlags::empty()).unwrap();
}

#[test]
fn creds_present() {
    let (rx, tx) = dgram_pair();
    rustix::net::sockopt::set_socket_passcred(&rx, true).unwrap();
    send(tx.as_fd(), b"READY=1");
    let mut data = [0u8; 4096];
    let mut control = ControlBuffer::new();
    let mut fds = Vec::new();
    let r = sys::recv_notify(rx.as_fd(), &mut data, &mut control, &mut fds).unwrap();
    assert_eq!(&data[..r.len], b"READY=1");
    assert!(!r.truncated && !r.ctrunc);
    let creds = r.creds.expect("SCM_CREDENTIALS");
    assert_eq!(creds.pid as u32, std::process::id());
    assert_eq!(creds.uid, rustix::process::getuid().as_raw());
    assert_eq!(creds.gid, rustix::process::getgid().as_raw());
    assert!(r.pidfd.is_none());
    assert!(fds.is_empty());
    assert_eq!(r.n_fds, 0);
}

#[test]
fn pidfd_arrives_and_is_owned() {
    let (rx, tx) = dgram_pair();
    rustix::net::sockopt::set_socket_passcred(&rx, true).unwrap();
    sys::set_passpidfd(rx.as_fd(), true).expect("SO_PASSPIDFD (Linux 6.5+)");
    send(tx.as_fd(), b"MAINPID=1");
    let mut data = [0u8; 64];
    let mut control = ControlBuffer::new();
    let mut fds = Vec::new();
    let r = sys::recv_notify(rx.as_fd(), &mut data, &mut control, &mut fds).unwrap();
    let pidfd = r.pidfd.expect("SCM_PIDFD");
    assert!(sys::is_cloexec(pidfd.as_fd()).unwrap());
    // It refers to us: same pidfs inode as a pidfd we open ourselves, and
    // PIDFD_GET_INFO reports our pid.
    let me = sys::pidfd_open(std::process::id() as i32).unwrap();
    assert_eq!(
        sys::pidfs_inode(pidfd.as_fd()).unwrap(),
        sys::pidfs_inode(me.as_fd()).unwrap()
    );
    let info = sys::pidfd_info(pidfd.as_fd(), sys::PIDFD_INFO_PID).unwrap();
    assert_eq!(info.pid, std::process::id());
    assert_eq!(r.creds.unwrap().pid as u32, std::process::id());
}

#[test]
fn rights_received_cloexec_and_vec_reused() {
    let (rx, tx) = dgram_pair();
    let null = std::fs::File::open("/dev/null").unwrap();
    let three = [null.as_fd(), null.as_fd(), null.as_fd()];
    send_with_fds(tx.as_fd(), b"FDSTORE=1", &three, 2).unwrap();
    let mut data = [0u8; 64];
    let mut control = ControlBuffer::new();
    let mut fds = Vec::new();
    let r = sys::recv_notify(rx.as_fd(), &mut data, &mut control, &mut fds).unwrap();
    assert_eq!(r.n_fds, 3);
    assert_eq!(fds.len(), 3);
    assert!(!r.ctrunc);
    for fd in &fds {
        assert!(sys::is_cloexec(fd.as_fd()).unwrap());
    }
    let cap = fds.capacity();
    // A message without descriptors clears (and closes) the previous ones,
    // keeping the vector's allocation.
    send(tx.as_fd(), b"WATCHDOG=1");
    let r = sys::recv_notify(rx.as_fd(), &mut data, &mut control, &mut fds).unwrap();
    assert_eq!(&data[..r.len], b"WATCHDOG=1");
    assert!(fds.is_empty());
    assert_eq!(fds.capacity(), cap);
}

#[test]
fn max_fds_received_with_default_buffer() {
    let (rx, tx) = dgram_pair();
    rustix::net::sockopt::set_socket_passcred(&rx, true).unwrap();
    sys::set_passpidfd(rx.as_fd(), true).unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    let many: Vec<BorrowedFd<'_>> = (0..SCM_MAX_FD).map(|_| null.as_fd()).collect();
    send_with_fds(tx.as_fd(), b"FDSTORE=1", &many, SCM_MAX_FD).unwrap();
    let mut data = [0u8; 64];
    let mut control = ControlBuffer::new();
    let mut fds = Vec::new();
    let r = sys::recv_notify(rx.as_fd(), &mut data, &mut control, &mut fds).unwrap();
    assert!(!r.ctrunc, "default buffer must hold SCM_MAX_FD descriptors");
    assert_eq!(fds.len(), SCM_MAX_FD);
    assert!(r.creds.is_some() && r.pidfd.is_some());
}

/// The kernel refuses more than SCM_MAX_FD (253) descriptors per message,
/// whether in one SCM_RIGHTS message or several; 768 is thus ample.
#[test]
fn kernel_rejects_more_than_scm_max_fd() {
    let (_rx, tx) = dgram_pair();
    let null = std::fs::File::open("/dev/null").unwrap();
    let many: Vec<BorrowedFd<'_>> = (0..800).map(|_| null.as_fd()).collect();
    for per_msg in [200, 250] {
        let err = send_with_fds(tx.as_fd(), b"x", &many, per_msg).unwrap_err();
        assert_eq!(err, rustix::io::Errno::INVAL, "{per_msg} per message");
    }
    let err = send_with_fds(tx.as_fd(), b"x", &many[..SCM_MAX_FD + 1], 128).unwrap_err();
    assert_eq!(err, rustix::io::Errno::INVAL);
}

#[test]
fn oversize_datagram_is_truncated() {
    let (rx, tx) = dgram_pair();
    let big: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    send(tx.as_fd(), &big);
    let mut data = [0u8; 4096];
    let mut control = ControlBuffer::new();
    let mut fds = Vec::new();
    let r = sys::recv_notify(rx.as_fd(), &mut data, &mut control, &mut fds).unwrap();
    assert!(r.truncated);
    assert_eq!(r.len, 4096);
    assert_eq!(&data[..], &big[..4096]);
    // Exactly fitting is not truncated.
    send(tx.as_fd(), &big[..4096]);
    let r = sys::recv_notify(rx.as_fd(), &mut data, &mut control, &mut fds).unwrap();
    assert!(!r.truncated);
    assert_eq!(r.len, 4096);
}

#[test]
fn empty_socket_would_block() {
    let (rx, _tx) = dgram_pair();
    let mut data = [0u8; 16];
    let mut control = ControlBuffer::new();
    let mut fds = Vec::new();
    let err = sys::recv_notify(rx.as_fd(), &mut data, &mut control, &mut fds).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = rel.split(|c: char| !c.is_ascii_digit());
    let ma: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mi: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (ma, mi) >= (major, minor)
}

fn check_bound(addr: &SocketAddrUnix) {
    let ns = sys::notify_socket_bind(addr).unwrap();
    assert!(sys::is_cloexec(ns.fd.as_fd()).unwrap());
    assert!(rustix::fs::fcntl_getfl(&ns.fd)
        .unwrap()
        .contains(rustix::fs::OFlags::NONBLOCK));
    assert!(rustix::net::sockopt::socket_passcred(&ns.fd).unwrap());
    if kernel_at_least(6, 5) {
        assert!(ns.passes_pidfd);
    }
    if os_common::is_root() {
        // SO_RCVBUFFORCE worked; the kernel reports twice the request.
        assert!(ns.recv_buffer >= sys::NOTIFY_RCVBUF, "{}", ns.recv_buffer);
    }
    let tx = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    rustix::net::sendto(&tx, b"STATUS=hi", SendFlags::empty(), addr).unwrap();
    let mut data = [0u8; 64];
    let mut control = ControlBuffer::new();
    let mut fds = Vec::new();
    let r = sys::recv_notify(ns.fd.as_fd(), &mut data, &mut control, &mut fds).unwrap();
    assert_eq!(&data[..r.len], b"STATUS=hi");
    assert_eq!(r.creds.unwrap().pid as u32, std::process::id());
    assert_eq!(r.pidfd.is_some(), ns.passes_pidfd);
}

#[test]
fn bind_path_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    check_bound(&SocketAddrUnix::new(&path).unwrap());
    // Re-binding an existing path fails: removing stale sockets is the
    // caller's business.
    let err = sys::notify_socket_bind(&SocketAddrUnix::new(&path).unwrap()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}

#[test]
fn bind_abstract_socket() {
    let name = herald_manager::cgroup::unique_name("herald-notify-test");
    check_bound(&SocketAddrUnix::new_abstract_name(name.as_bytes()).unwrap());
}
