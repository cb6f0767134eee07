//! The client against a real receiving socket: bytes on the wire, credentials, fds,
//! barriers, abstract sockets, vsock type fallback, and refusals that send nothing.

mod common;

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Receiver;
use herald_notify::{Error, Field, Notifier, NotifyAddress, VsockConnector, VsockType};

#[test]
fn bytes_on_the_wire_match_libsystemd_format() {
    let rx = Receiver::path();
    let n = rx.notifier();
    n.notify(&[Field::Ready, Field::Status("Serving")]).unwrap();
    assert_eq!(rx.recv().bytes, b"READY=1\nSTATUS=Serving");
    n.notify(&[
        Field::WatchdogUsec(36_000_000_000),
        Field::Other {
            key: "X_APP",
            value: b"1",
        },
    ])
    .unwrap();
    assert_eq!(rx.recv().bytes, b"WATCHDOG_USEC=36000000000\nX_APP=1");
    n.send_raw(b"STATUS=raw\n", &[], None).unwrap();
    assert_eq!(rx.recv().bytes, b"STATUS=raw\n");
}

#[test]
fn kernel_credentials_are_the_senders() {
    let rx = Receiver::path();
    rx.notifier().notify(&[Field::Ready]).unwrap();
    let got = rx.recv();
    assert_eq!(got.pid, Some(std::process::id() as i32));
    assert_eq!(got.uid, Some(rustix::process::getuid().as_raw()));
}

#[test]
fn pid_notify_sends_the_other_pid_when_privileged() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to send another PID's credentials");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root: this must not skip"
        );
        return;
    }
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let rx = Receiver::path();
    rx.notifier()
        .pid_notify_with_fds(Some(child.id()), &[Field::MainPid(child.id())], &[])
        .unwrap();
    let got = rx.recv();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(got.pid, Some(child.id() as i32));
    assert_eq!(got.bytes, format!("MAINPID={}", child.id()).as_bytes());
}

#[test]
fn pid_notify_falls_back_to_own_credentials_when_refused() {
    // An unprivileged sender may not claim another PID: the kernel says EPERM and the
    // client sends again as itself. Run a copy of this test binary as nobody to be one.
    if std::env::var_os("HERALD_TEST_ROLE").is_some() {
        let addr = std::env::var("HERALD_TEST_ADDR").unwrap();
        let n = Notifier::new(NotifyAddress::parse(addr.as_ref()).unwrap());
        n.pid_notify_with_fds(Some(1), &[Field::Ready], &[])
            .unwrap();
        return;
    }
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to drop to another user");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root: this must not skip"
        );
        return;
    }
    let rx = Receiver::abstract_();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "pid_notify_falls_back_to_own_credentials_when_refused",
            "--test-threads=1",
        ])
        .env("HERALD_TEST_ROLE", "sender")
        .env("HERALD_TEST_ADDR", &rx.address)
        .uid(65534)
        .gid(65534)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let child_pid = status.id() as i32;
    let out = status.wait_with_output().unwrap();
    assert!(out.status.success());
    let got = rx.recv();
    assert_eq!(got.bytes, b"READY=1");
    assert_eq!(got.pid, Some(child_pid), "sent with its own PID, not 1");
    assert_eq!(got.uid, Some(65534));
}

use std::os::unix::process::CommandExt;

#[test]
fn fds_arrive_and_refer_to_the_same_files() {
    let rx = Receiver::path();
    let (r1, w1) = rustix::pipe::pipe().unwrap();
    let (r2, w2) = rustix::pipe::pipe().unwrap();
    rx.notifier()
        .notify_with_fds(
            &[Field::FdStore, Field::FdName("pipes")],
            &[w1.as_fd(), w2.as_fd()],
        )
        .unwrap();
    let got = rx.recv();
    assert_eq!(got.bytes, b"FDSTORE=1\nFDNAME=pipes");
    assert_eq!(got.fds.len(), 2);
    for (sent_read, received_write) in [(r1, &got.fds[0]), (r2, &got.fds[1])] {
        std::fs::File::from(received_write.try_clone().unwrap())
            .write_all(b"x")
            .unwrap();
        let mut b = [0u8; 1];
        std::fs::File::from(sent_read).read_exact(&mut b).unwrap();
        assert_eq!(&b, b"x");
    }
}

#[test]
fn refusals_send_nothing() {
    let rx = Receiver::path();
    let n = rx.notifier();
    let too_long = "x".repeat(4097 - "STATUS=".len());
    assert!(matches!(
        n.notify(&[Field::Status(&too_long)]),
        Err(Error::TooLarge { len: 4097 })
    ));
    assert!(matches!(
        n.notify(&[Field::Ready, Field::Status("a\nREADY=1")]),
        Err(Error::Field(_))
    ));
    let (_r, w) = rustix::pipe::pipe().unwrap();
    let many: Vec<_> = std::iter::repeat_n(w.as_fd(), 254).collect();
    assert!(matches!(
        n.notify_with_fds(&[Field::FdStore], &many),
        Err(Error::TooManyFds { count: 254 })
    ));
    assert!(!rx.pending(), "nothing was sent half-way");
    // The limits themselves are fine.
    n.notify_with_fds(&[Field::FdStore], &many[..253]).unwrap();
    assert_eq!(rx.recv().fds.len(), 253);
    let max = "x".repeat(4096 - "STATUS=".len());
    n.notify(&[Field::Status(&max)]).unwrap();
    assert_eq!(rx.recv().bytes.len(), 4096);
}

#[test]
fn abstract_sockets_work() {
    let rx = Receiver::abstract_();
    assert!(rx.address.starts_with('@'));
    rx.notifier().notify(&[Field::Stopping]).unwrap();
    assert_eq!(rx.recv().bytes, b"STOPPING=1");
}

#[test]
fn barrier_returns_only_after_the_receiver_closes_the_fd() {
    let rx = Receiver::path();
    let n = rx.notifier();
    n.notify(&[Field::Ready]).unwrap();
    let waiter = std::thread::spawn(move || n.barrier(Duration::from_secs(30)));
    assert_eq!(rx.recv().bytes, b"READY=1", "messages stay in order");
    let barrier = rx.recv();
    assert_eq!(barrier.bytes, b"BARRIER=1");
    assert_eq!(barrier.fds.len(), 1);
    // The receiver holds the only write end: the barrier cannot have returned.
    assert!(!waiter.is_finished());
    drop(barrier);
    waiter.join().unwrap().unwrap();
}

#[test]
fn barrier_times_out_when_the_fd_is_never_closed() {
    let rx = Receiver::path();
    let err = rx
        .notifier()
        .barrier(Duration::from_millis(50))
        .unwrap_err();
    assert!(matches!(err, Error::BarrierTimeout(_)), "{err}");
    assert!(err.to_string().contains("barrier timed out"));
    let held = rx.recv();
    assert_eq!(held.fds.len(), 1, "the receiver got the fd it never closed");
}

#[test]
fn sending_to_a_missing_socket_names_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nobody-listens");
    let n = Notifier::new(NotifyAddress::Path(path.clone()));
    let err = n.notify(&[Field::Ready]).unwrap_err();
    assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");
    assert_eq!(err.raw_os_error(), rustix::io::Errno::NOENT.raw_os_error());
}

/// A vsock stand-in: refuses the types listed with the given errno, and otherwise returns
/// one end of an AF_UNIX socketpair of the requested type, keeping the other end.
#[derive(Clone)]
struct FakeVsock {
    refuse: Vec<(VsockType, rustix::io::Errno)>,
    tried: Arc<Mutex<Vec<VsockType>>>,
    peers: Arc<Mutex<Vec<(VsockType, OwnedFd)>>>,
}

impl FakeVsock {
    fn new(refuse: &[(VsockType, rustix::io::Errno)]) -> FakeVsock {
        FakeVsock {
            refuse: refuse.to_vec(),
            tried: Default::default(),
            peers: Default::default(),
        }
    }
}

impl VsockConnector for FakeVsock {
    fn connect(&self, ty: VsockType, cid: u32, port: u32) -> io::Result<OwnedFd> {
        assert_ne!(cid, 2, "tests never reach for the host");
        assert_eq!(port, 9);
        self.tried.lock().unwrap().push(ty);
        if let Some((_, errno)) = self.refuse.iter().find(|(t, _)| *t == ty) {
            return Err(io::Error::from_raw_os_error(errno.raw_os_error()));
        }
        let st = match ty {
            VsockType::Dgram => rustix::net::SocketType::DGRAM,
            VsockType::Seqpacket => rustix::net::SocketType::SEQPACKET,
            VsockType::Stream => rustix::net::SocketType::STREAM,
        };
        let (a, b) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            st,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )?;
        if ty != VsockType::Dgram {
            // The manager's side of a connection: read to EOF, then close.
            std::thread::spawn(move || {
                let mut all = Vec::new();
                std::fs::File::from(b).read_to_end(&mut all).unwrap();
                assert_eq!(all, b"READY=1");
            });
        } else {
            self.peers.lock().unwrap().push((ty, b));
        }
        Ok(a)
    }
}

fn vsock(named: Option<VsockType>) -> NotifyAddress {
    NotifyAddress::Vsock {
        socket_type: named,
        cid: 1,
        port: 9,
    }
}

#[test]
fn vsock_tries_dgram_then_seqpacket_then_stream() {
    use rustix::io::Errno;
    use VsockType::*;
    type Case<'a> = (&'a [(VsockType, Errno)], &'a [VsockType]);
    let cases: &[Case<'_>] = &[
        (&[], &[Dgram]),
        (&[(Dgram, Errno::NODEV)], &[Dgram, Seqpacket]),
        (&[(Dgram, Errno::OPNOTSUPP)], &[Dgram, Seqpacket]),
        (
            &[
                (Dgram, Errno::PROTOTYPE),
                (Seqpacket, Errno::SOCKTNOSUPPORT),
            ],
            &[Dgram, Seqpacket, Stream],
        ),
    ];
    for (refuse, want) in cases {
        let fake = FakeVsock::new(refuse);
        Notifier::with_vsock_connector(vsock(None), fake.clone())
            .notify(&[Field::Ready])
            .unwrap();
        assert_eq!(&*fake.tried.lock().unwrap(), want, "refusing {refuse:?}");
        for (ty, peer) in fake.peers.lock().unwrap().iter() {
            let mut buf = [0u8; 64];
            let n = rustix::net::recv(peer, &mut buf, rustix::net::RecvFlags::DONTWAIT)
                .unwrap()
                .0;
            assert_eq!(&buf[..n], b"READY=1", "{ty:?}");
        }
    }
}

#[test]
fn vsock_does_not_fall_back_on_other_errors_or_named_types() {
    use rustix::io::Errno;
    let fake = FakeVsock::new(&[(VsockType::Dgram, Errno::CONNREFUSED)]);
    let err = Notifier::with_vsock_connector(vsock(None), fake.clone())
        .notify(&[Field::Ready])
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Errno::CONNREFUSED.raw_os_error());
    assert_eq!(*fake.tried.lock().unwrap(), vec![VsockType::Dgram]);

    let fake = FakeVsock::new(&[(VsockType::Dgram, Errno::NODEV)]);
    let err = Notifier::with_vsock_connector(vsock(Some(VsockType::Dgram)), fake.clone())
        .notify(&[Field::Ready])
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Errno::NODEV.raw_os_error());
    assert_eq!(*fake.tried.lock().unwrap(), vec![VsockType::Dgram]);

    let fake = FakeVsock::new(&[]);
    Notifier::with_vsock_connector(vsock(Some(VsockType::Stream)), fake.clone())
        .notify(&[Field::Ready])
        .unwrap();
    assert_eq!(*fake.tried.lock().unwrap(), vec![VsockType::Stream]);

    let (_r, w) = rustix::pipe::pipe().unwrap();
    let fake = FakeVsock::new(&[]);
    let err = Notifier::with_vsock_connector(vsock(None), fake.clone())
        .notify_with_fds(&[Field::FdStore], &[w.as_fd()])
        .unwrap_err();
    assert!(matches!(err, Error::FdsOverVsock));
    assert!(
        fake.tried.lock().unwrap().is_empty(),
        "nothing was attempted"
    );
}
