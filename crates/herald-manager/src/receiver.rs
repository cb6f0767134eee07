//! The notification socket's receive path: one function that reads the next datagram,
//! applies every rule of systemd's receiver, answers barriers, and hands back either a
//! validated message with its sender or a rejection with its reason.
//!
//! Race-free attribution without paying for a pidfd per message: a PID the manager
//! has not yet reaped cannot have been recycled, so a message from one of the
//! manager's own children needs nothing more than its credentials. For any other
//! sender (a grandchild such as `systemd-notify` run from a script) the kernel must
//! attach an `SCM_PIDFD`, which pins the sender's identity and cgroup even after it
//! has exited and been reaped. The kernel decides whether to attach it when the
//! datagram is *received*, so the receiver first peeks at the sender's credentials and
//! turns `SO_PASSPIDFD` on only for the datagrams that need it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use herald_proto::limits::MAX_DATAGRAM;
use herald_proto::message::{self, DatagramError};

use crate::sys::{self, ControlBuffer, Ucred};

/// Who sent a datagram.
#[derive(Debug)]
pub struct Sender {
    /// Credentials from `SCM_CREDENTIALS`.
    pub creds: Ucred,
    /// A pidfd from `SCM_PIDFD`, when one was asked for and the kernel has them.
    pub pidfd: Option<OwnedFd>,
}

/// What [`NotifyReceiver::next`] found.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// A datagram that passed every datagram-level rule.
    Message {
        /// The payload, without a trailing NUL.
        payload: &'a [u8],
        /// Its sender.
        sender: Sender,
        /// File descriptors that came with it (closed when dropped).
        fds: &'a mut Vec<OwnedFd>,
    },
    /// A valid `BARRIER=1`: its fd has been closed, which is the answer.
    Barrier {
        /// Its sender.
        sender: Sender,
    },
    /// A datagram refused before it reached any unit; every fd that came with it has
    /// already been closed.
    Rejected {
        /// Its sender, when it had credentials (to record the rejection on its unit).
        sender: Option<Sender>,
        /// Why.
        reason: String,
        /// The start of the payload, for the record.
        payload: &'a [u8],
    },
}

/// The manager's notification socket and its reusable buffers.
pub struct NotifyReceiver {
    socket: OwnedFd,
    passes_pidfd: bool,
    pidfd_on: bool,
    data: Box<[u8]>,
    control: ControlBuffer,
    fds: Vec<OwnedFd>,
}

impl std::fmt::Debug for NotifyReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyReceiver")
            .field("passes_pidfd", &self.passes_pidfd)
            .finish_non_exhaustive()
    }
}

impl NotifyReceiver {
    /// Binds the socket at `path` (replacing a stale socket file), world-writable so
    /// services running as other users can notify.
    pub fn bind(path: &Path) -> io::Result<NotifyReceiver> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let addr = rustix::net::SocketAddrUnix::new(path)?;
        let bound = sys::notify_socket_bind(&addr)?;
        rustix::fs::chmod(path, rustix::fs::Mode::from_raw_mode(0o777))?;
        let mut r = NotifyReceiver {
            socket: bound.fd,
            passes_pidfd: bound.passes_pidfd,
            pidfd_on: bound.passes_pidfd,
            // One byte more than the limit, so an oversized datagram is seen as such
            // even on kernels that do not report MSG_TRUNC's real length.
            data: vec![0u8; MAX_DATAGRAM + 1].into_boxed_slice(),
            control: ControlBuffer::new(),
            fds: Vec::with_capacity(4),
        };
        // Start with pidfds off; they are turned on per datagram when needed.
        r.set_pidfd(false)?;
        Ok(r)
    }

    /// The socket, to register with the event loop.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Whether the kernel can attach pidfds (`SO_PASSPIDFD`, Linux 6.5+).
    pub fn passes_pidfd(&self) -> bool {
        self.passes_pidfd
    }

    fn set_pidfd(&mut self, on: bool) -> io::Result<()> {
        if self.passes_pidfd && self.pidfd_on != on {
            sys::set_passpidfd(self.socket.as_fd(), on)?;
            self.pidfd_on = on;
        }
        Ok(())
    }

    /// Reads the next datagram, if any. `needs_pidfd(pid)` says whether a sender with
    /// that PID must be pinned by a pidfd (it is not one of the manager's unreaped
    /// children). `Ok(None)`: the queue is empty.
    pub fn next(&mut self, needs_pidfd: impl Fn(i32) -> bool) -> io::Result<Option<Incoming<'_>>> {
        if self.passes_pidfd {
            let Some(peeked) = sys::peek_sender(self.socket.as_fd())? else {
                return Ok(None);
            };
            self.set_pidfd(needs_pidfd(peeked.pid))?;
        }
        let received = match sys::recv_notify(
            self.socket.as_fd(),
            &mut self.data,
            &mut self.control,
            &mut self.fds,
        ) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = received.len.min(self.data.len());
        let payload = &self.data[..len];
        let sender = received.creds.filter(|c| c.pid > 0).map(|creds| Sender {
            creds,
            pidfd: received.pidfd,
        });
        let reject = |sender, reason: String, fds: &mut Vec<OwnedFd>| {
            fds.clear();
            Ok(Some(Incoming::Rejected {
                sender,
                reason,
                payload: &payload[..payload.len().min(256)],
            }))
        };
        if received.truncated || len > MAX_DATAGRAM {
            let reason = DatagramError::TooLarge {
                len: received.len.max(len),
            }
            .to_string();
            return reject(sender, reason, &mut self.fds);
        }
        if received.ctrunc {
            return reject(
                sender,
                "control data truncated (too many file descriptors), message dropped".into(),
                &mut self.fds,
            );
        }
        let Some(sender) = sender else {
            return reject(
                None,
                "message without sender credentials".into(),
                &mut self.fds,
            );
        };
        let payload = match message::check_datagram(payload) {
            Ok(p) => p,
            Err(e) => return reject(Some(sender), e.to_string(), &mut self.fds),
        };
        // BARRIER=1 is answered before the message reaches any unit.
        if message::lines(payload).any(|l| l == b"BARRIER=1") {
            let n_fds = self.fds.len();
            let only_barrier = message::lines(payload).all(|l| l == b"BARRIER=1");
            // Closing the fd (for a valid barrier, the answer) happens in all cases.
            self.fds.clear();
            if n_fds != 1 {
                return reject(
                    Some(sender),
                    format!("BARRIER=1 with {n_fds} file descriptors (exactly one expected)"),
                    &mut self.fds,
                );
            }
            if !only_barrier {
                return reject(
                    Some(sender),
                    "BARRIER=1 combined with other assignments".into(),
                    &mut self.fds,
                );
            }
            return Ok(Some(Incoming::Barrier { sender }));
        }
        Ok(Some(Incoming::Message {
            payload,
            sender,
            fds: &mut self.fds,
        }))
    }
}
