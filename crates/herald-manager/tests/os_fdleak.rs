//! Descriptor accounting for `recv_notify` when the control buffer is too
//! small. This file holds a single test so that no concurrently running test
//! opens or closes descriptors while we count them.

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};

use herald_manager::sys::{self, ControlBuffer, SCM_MAX_FD};
use rustix::net::{
    AddressFamily, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn truncated_control_leaks_nothing() {
    let (rx, tx) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    rustix::net::sockopt::set_socket_passcred(&rx, true).unwrap();
    let passes_pidfd = sys::set_passpidfd(rx.as_fd(), true).is_ok();
    let null = std::fs::File::open("/dev/null").unwrap();
    let many: Vec<BorrowedFd<'_>> = (0..SCM_MAX_FD).map(|_| null.as_fd()).collect();

    let send = |n: usize| {
        let per = 100;
        let chunks: Vec<&[BorrowedFd<'_>]> = many[..n].chunks(per).collect();
        let space: usize = chunks
            .iter()
            .map(|c| rustix::cmsg_space!(ScmRights(c.len())))
            .sum();
        let mut space = vec![MaybeUninit::<u8>::uninit(); space];
        let mut anc = SendAncillaryBuffer::new(&mut space);
        for c in &chunks {
            assert!(anc.push(SendAncillaryMessage::ScmRights(c)));
        }
        rustix::net::sendmsg(
            &tx,
            &[IoSlice::new(b"FDSTORE=1")],
            &mut anc,
            SendFlags::empty(),
        )
        .unwrap();
    };

    let mut data = [0u8; 64];
    let mut small = ControlBuffer::with_fd_capacity(16);
    let mut full = ControlBuffer::new();
    let mut fds = Vec::with_capacity(SCM_MAX_FD);

    // Warm up (lazily allocated kernel/libc state), then take the baseline.
    send(1);
    drop(sys::recv_notify(rx.as_fd(), &mut data, &mut full, &mut fds).unwrap());
    fds.clear();
    let baseline = open_fd_count();

    for round in 0..3 {
        // Too small a buffer: MSG_CTRUNC. The kernel writes SCM_CREDENTIALS
        // first, then as many SCM_RIGHTS descriptors as fit, and SCM_PIDFD
        // last — so the pidfd is the first casualty. Whatever did not fit is
        // closed by the kernel.
        send(SCM_MAX_FD);
        let r = sys::recv_notify(rx.as_fd(), &mut data, &mut small, &mut fds).unwrap();
        assert!(r.ctrunc, "round {round}");
        assert!(r.creds.is_some());
        assert!(r.pidfd.is_none(), "pidfd comes after the descriptors");
        assert!(fds.len() <= 24 && !fds.is_empty(), "got {}", fds.len());
        assert!(open_fd_count() > baseline);
        drop(r);
        fds.clear();
        assert_eq!(
            open_fd_count(),
            baseline,
            "round {round}: leaked descriptors"
        );

        // A full buffer gets all of them.
        send(SCM_MAX_FD);
        let r = sys::recv_notify(rx.as_fd(), &mut data, &mut full, &mut fds).unwrap();
        assert!(!r.ctrunc);
        assert_eq!(fds.len(), SCM_MAX_FD);
        assert_eq!(
            open_fd_count(),
            baseline + SCM_MAX_FD + usize::from(passes_pidfd)
        );
        drop(r);
        fds.clear();
        assert_eq!(
            open_fd_count(),
            baseline,
            "round {round}: leaked descriptors"
        );
    }
}
