//! A minimal notification receiver for tests: a bound AF_UNIX datagram socket with
//! SO_PASSCRED that hands back each datagram's bytes, credentials and fds.

#![allow(dead_code)]

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SocketAddrUnix,
    SocketFlags, SocketType,
};

pub struct Received {
    pub bytes: Vec<u8>,
    pub pid: Option<i32>,
    pub uid: Option<u32>,
    pub fds: Vec<OwnedFd>,
}

pub struct Receiver {
    pub sock: OwnedFd,
    pub address: String,
    _dir: Option<tempfile::TempDir>,
}

impl Receiver {
    /// A receiver on a path in a fresh temporary directory.
    pub fn path() -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let path: PathBuf = dir.path().join("notify");
        let sock = Self::socket();
        rustix::net::bind(&sock, &SocketAddrUnix::new(&path).unwrap()).unwrap();
        Receiver {
            sock,
            address: path.to_str().unwrap().to_owned(),
            _dir: Some(dir),
        }
    }

    /// A receiver on a unique abstract name.
    pub fn abstract_() -> Receiver {
        let name = format!("herald-test/{}/{}", std::process::id(), unique());
        let sock = Self::socket();
        rustix::net::bind(
            &sock,
            &SocketAddrUnix::new_abstract_name(name.as_bytes()).unwrap(),
        )
        .unwrap();
        Receiver {
            sock,
            address: format!("@{name}"),
            _dir: None,
        }
    }

    fn socket() -> OwnedFd {
        let sock = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        rustix::net::sockopt::set_socket_passcred(&sock, true).unwrap();
        sock
    }

    pub fn notifier(&self) -> herald_notify::Notifier {
        herald_notify::Notifier::new(
            herald_notify::NotifyAddress::parse(self.address.as_ref()).unwrap(),
        )
    }

    /// Blocks for the next datagram.
    pub fn recv(&self) -> Received {
        let mut buf = vec![0u8; 8192];
        let mut space = vec![
            MaybeUninit::<u8>::uninit();
            rustix::cmsg_space!(ScmRights(768), ScmCredentials(1))
        ];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let msg = rustix::net::recvmsg(
            &self.sock,
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .unwrap();
        let n = msg.bytes;
        let mut out = Received {
            bytes: buf[..n].to_vec(),
            pid: None,
            uid: None,
            fds: Vec::new(),
        };
        for m in control.drain() {
            match m {
                RecvAncillaryMessage::ScmCredentials(c) => {
                    out.pid = Some(c.pid.as_raw_nonzero().get());
                    out.uid = Some(c.uid.as_raw());
                }
                RecvAncillaryMessage::ScmRights(fds) => out.fds.extend(fds),
                _ => {}
            }
        }
        out
    }

    /// Whether a datagram is waiting.
    pub fn pending(&self) -> bool {
        let mut fds = [rustix::event::PollFd::new(
            &self.sock,
            rustix::event::PollFlags::IN,
        )];
        rustix::event::poll(
            &mut fds,
            Some(&rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }),
        )
        .unwrap()
            > 0
    }
}

pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
