//! The one send path. Every notification — plain, with fds, on behalf of another PID, or a
//! barrier — goes through [`Notifier::send_raw`], which follows libsystemd's
//! `pid_notify_with_fds_internal()`: a `SOCK_CLOEXEC` datagram socket with a raised send
//! buffer, `MSG_NOSIGNAL`, `SCM_CREDENTIALS` only when they differ from what the kernel
//! would fill in, and a retry with the sender's own credentials if the kernel refuses them.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use herald_proto::limits::{MAX_DATAGRAM, MAX_FDS_SEND, SEND_BUFFER};
use herald_proto::message::{self, Field};
use herald_proto::{NotifyAddress, VsockType};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, Shutdown, SocketAddrUnix,
    SocketFlags, SocketType, UCred,
};
use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::{Gid, Pid, Uid};

use crate::sys::VsockAddr;
use crate::Error;

/// Opens a connected AF_VSOCK socket of one type. The seam through which tests drive the
/// type-fallback logic on machines without vsock.
pub trait VsockConnector {
    /// Creates a socket of type `ty` and connects it to `cid:port`.
    fn connect(&self, ty: VsockType, cid: u32, port: u32) -> io::Result<OwnedFd>;
}

/// The kernel's AF_VSOCK.
#[derive(Debug, Default, Clone, Copy)]
pub struct KernelVsock;

impl VsockConnector for KernelVsock {
    fn connect(&self, ty: VsockType, cid: u32, port: u32) -> io::Result<OwnedFd> {
        let sock = rustix::net::socket_with(
            AddressFamily::VSOCK,
            socket_type(ty),
            SocketFlags::CLOEXEC,
            None,
        )?;
        rustix::net::connect(&sock, &VsockAddr { cid, port })?;
        Ok(sock)
    }
}

fn socket_type(ty: VsockType) -> SocketType {
    match ty {
        VsockType::Stream => SocketType::STREAM,
        VsockType::Dgram => SocketType::DGRAM,
        VsockType::Seqpacket => SocketType::SEQPACKET,
    }
}

/// Errors meaning "this vsock socket type is not available here, try the next one".
fn vsock_type_unsupported(e: &io::Error) -> bool {
    let errno = e.raw_os_error();
    [
        Errno::NODEV,
        Errno::PROTOTYPE,
        Errno::SOCKTNOSUPPORT,
        Errno::OPNOTSUPP,
        Errno::PROTONOSUPPORT,
    ]
    .iter()
    .any(|x| Some(x.raw_os_error()) == errno)
}

/// A connection to one manager's notification socket.
///
/// For a path or abstract address the datagram socket is created on first use and kept,
/// so repeated notifications cost one `sendmsg` each. Whether real and effective IDs
/// differ (which makes libsystemd attach credentials) is also read on first use: create
/// the notifier after any `setuid()`-style change of identity.
pub struct Notifier {
    address: NotifyAddress,
    socket: OnceLock<OwnedFd>,
    unix_addr: OnceLock<SocketAddrUnix>,
    ids_differ: OnceLock<bool>,
    vsock: Box<dyn VsockConnector + Send + Sync>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Whose credentials a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendAs {
    /// `Some(pid)` to send on behalf of another process (`sd_pid_notify`).
    pub pid: Option<u32>,
}

impl Notifier {
    /// A notifier for an explicit address.
    pub fn new(address: NotifyAddress) -> Notifier {
        Notifier {
            address,
            socket: OnceLock::new(),
            unix_addr: OnceLock::new(),
            ids_differ: OnceLock::new(),
            vsock: Box::new(KernelVsock),
        }
    }

    /// A notifier whose vsock connections go through `connector` (for tests and
    /// unusual transports).
    pub fn with_vsock_connector(
        address: NotifyAddress,
        connector: impl VsockConnector + Send + Sync + 'static,
    ) -> Notifier {
        Notifier {
            address,
            socket: OnceLock::new(),
            unix_addr: OnceLock::new(),
            ids_differ: OnceLock::new(),
            vsock: Box::new(connector),
        }
    }

    /// The address messages go to.
    pub fn address(&self) -> &NotifyAddress {
        &self.address
    }

    /// Sends typed fields (`sd_notify`).
    pub fn notify(&self, fields: &[Field<'_>]) -> Result<(), Error> {
        self.pid_notify_with_fds(None, fields, &[])
    }

    /// Sends typed fields with file descriptors (`sd_notify_with_fds`), e.g. `FDSTORE=1`.
    pub fn notify_with_fds(
        &self,
        fields: &[Field<'_>],
        fds: &[BorrowedFd<'_>],
    ) -> Result<(), Error> {
        self.pid_notify_with_fds(None, fields, fds)
    }

    /// Sends on behalf of process `pid` (`sd_pid_notify_with_fds`): the message carries
    /// `SCM_CREDENTIALS` naming `pid`. The kernel allows that only to privileged senders
    /// (or for one's own PID); when it refuses, the message is sent again with the
    /// sender's own credentials, as libsystemd does.
    pub fn pid_notify_with_fds(
        &self,
        pid: Option<u32>,
        fields: &[Field<'_>],
        fds: &[BorrowedFd<'_>],
    ) -> Result<(), Error> {
        let payload = message::format(fields)?;
        self.send_raw(&payload, fds, pid)
    }

    /// Sends a payload as is, after the checks a receiver would apply to its size; the
    /// one funnel every other call ends in.
    pub fn send_raw(
        &self,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
        pid: Option<u32>,
    ) -> Result<(), Error> {
        if payload.len() > MAX_DATAGRAM {
            return Err(Error::TooLarge { len: payload.len() });
        }
        if fds.len() > MAX_FDS_SEND {
            return Err(Error::TooManyFds { count: fds.len() });
        }
        let send_as = SendAs { pid };
        match &self.address {
            NotifyAddress::Path(_) | NotifyAddress::Abstract(_) => {
                let addr = self.unix_address()?;
                self.send_unix(addr, payload, fds, send_as)
            }
            NotifyAddress::Vsock {
                socket_type,
                cid,
                port,
            } => {
                if !fds.is_empty() {
                    return Err(Error::FdsOverVsock);
                }
                self.send_vsock(*socket_type, *cid, *port, payload)
            }
        }
    }

    fn unix_address(&self) -> Result<&SocketAddrUnix, Error> {
        if let Some(a) = self.unix_addr.get() {
            return Ok(a);
        }
        let addr = match &self.address {
            NotifyAddress::Path(path) => SocketAddrUnix::new(path.as_path()),
            NotifyAddress::Abstract(name) => SocketAddrUnix::new_abstract_name(name),
            NotifyAddress::Vsock { .. } => unreachable!("only called for AF_UNIX addresses"),
        }
        .map_err(|e| Error::io(format!("address {}", self.address), e))?;
        Ok(self.unix_addr.get_or_init(|| addr))
    }

    fn unix_socket(&self) -> Result<BorrowedFd<'_>, Error> {
        if let Some(s) = self.socket.get() {
            return Ok(s.as_fd());
        }
        let sock = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| Error::io("create notification socket", e))?;
        raise_send_buffer(&sock);
        // Another thread may have won the race; its socket is as good as ours.
        Ok(self.socket.get_or_init(|| sock).as_fd())
    }

    fn send_unix(
        &self,
        addr: &SocketAddrUnix,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
        send_as: SendAs,
    ) -> Result<(), Error> {
        let sock = self.unix_socket()?;
        let creds = credentials_to_send(
            send_as,
            *self.ids_differ.get_or_init(real_and_effective_ids_differ),
        );
        let iov = [IoSlice::new(payload)];
        let mut space = [MaybeUninit::<u8>::uninit();
            rustix::cmsg_space!(ScmRights(MAX_FDS_SEND), ScmCredentials(1))];
        let attempt = |with_creds: Option<UCred>, space: &mut [MaybeUninit<u8>]| {
            let mut control = SendAncillaryBuffer::new(space);
            if !fds.is_empty() {
                let pushed = control.push(SendAncillaryMessage::ScmRights(fds));
                debug_assert!(pushed, "control buffer holds MAX_FDS_SEND fds");
            }
            if let Some(c) = with_creds {
                let pushed = control.push(SendAncillaryMessage::ScmCredentials(c));
                debug_assert!(pushed, "control buffer holds credentials");
            }
            loop {
                match rustix::net::sendmsg_addr(sock, addr, &iov, &mut control, SendFlags::NOSIGNAL)
                {
                    Err(Errno::INTR) => continue,
                    other => return other,
                }
            }
        };
        let result = match attempt(creds, &mut space) {
            Err(_) if creds.is_some() => attempt(None, &mut space),
            other => other,
        };
        result
            .map(drop)
            .map_err(|e| Error::io(format!("send to {}", self.address), e))
    }

    fn send_vsock(
        &self,
        named: Option<VsockType>,
        cid: u32,
        port: u32,
        payload: &[u8],
    ) -> Result<(), Error> {
        let candidates: &[VsockType] = match named {
            Some(VsockType::Dgram) => &[VsockType::Dgram],
            Some(VsockType::Seqpacket) => &[VsockType::Seqpacket],
            Some(VsockType::Stream) => &[VsockType::Stream],
            None => &[VsockType::Dgram, VsockType::Seqpacket, VsockType::Stream],
        };
        let mut last = None;
        for (i, &ty) in candidates.iter().enumerate() {
            match self.vsock.connect(ty, cid, port) {
                Ok(sock) => {
                    return send_connected(&sock, ty, payload)
                        .map_err(|e| Error::io(format!("send to {}", self.address), e))
                }
                // Fall through to the next type only when the address did not name one.
                Err(e)
                    if named.is_none()
                        && vsock_type_unsupported(&e)
                        && i + 1 < candidates.len() =>
                {
                    last = Some(e)
                }
                Err(e) => return Err(Error::io(format!("connect to {}", self.address), e)),
            }
        }
        Err(Error::io(
            format!("connect to {}", self.address),
            last.unwrap_or_else(|| io::Error::from_raw_os_error(Errno::NODEV.raw_os_error())),
        ))
    }

    /// Sends `BARRIER=1` with the write end of a pipe and waits until the manager closes
    /// it, which it does once every message sent before has been processed
    /// (`sd_notify_barrier`).
    pub fn barrier(&self, timeout: Duration) -> Result<(), Error> {
        self.pid_notify_barrier(None, &[], timeout)
    }

    /// Sends `fields` (if any) as `pid`, then a barrier (`sd_pid_notify_barrier`).
    pub fn pid_notify_barrier(
        &self,
        pid: Option<u32>,
        fields: &[Field<'_>],
        timeout: Duration,
    ) -> Result<(), Error> {
        if !fields.is_empty() {
            self.pid_notify_with_fds(pid, fields, &[])?;
        }
        let (read_end, write_end) =
            pipe_with(PipeFlags::CLOEXEC).map_err(|e| Error::io("create barrier pipe", e))?;
        self.send_raw(b"BARRIER=1", &[write_end.as_fd()], pid)?;
        // Our copy must go, or the read end would never see the hang-up.
        drop(write_end);
        wait_for_hangup(&read_end, timeout)
    }
}

/// The credentials to attach, if any: libsystemd attaches `SCM_CREDENTIALS` only when
/// sending for another PID or when real and effective IDs differ, since otherwise the
/// kernel fills in the same values itself. `ids_differ` is that second condition, read
/// once per notifier (see [`Notifier`]).
fn credentials_to_send(send_as: SendAs, ids_differ: bool) -> Option<UCred> {
    if send_as.pid.is_none() && !ids_differ {
        return None;
    }
    let own_pid = rustix::process::getpid();
    let other_pid = send_as
        .pid
        .filter(|&p| p != own_pid.as_raw_nonzero().get() as u32);
    if other_pid.is_none() && !ids_differ {
        return None;
    }
    let pid = other_pid
        .and_then(|p| Pid::from_raw(p as i32))
        .unwrap_or(own_pid);
    let (uid, gid) = (rustix::process::getuid(), rustix::process::getgid());
    Some(UCred {
        pid,
        uid: Uid::from_raw(uid.as_raw()),
        gid: Gid::from_raw(gid.as_raw()),
    })
}

fn real_and_effective_ids_differ() -> bool {
    rustix::process::getuid() != rustix::process::geteuid()
        || rustix::process::getgid() != rustix::process::getegid()
}

/// Asks for an 8 MiB send buffer so a burst of notifications does not block; failure is
/// harmless (the default buffer still works), so it is ignored.
fn raise_send_buffer(sock: &OwnedFd) {
    if rustix::net::sockopt::socket_send_buffer_size(sock).is_ok_and(|n| n >= SEND_BUFFER) {
        return;
    }
    if rustix::net::sockopt::set_socket_send_buffer_size_force(sock, SEND_BUFFER).is_err() {
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(sock, SEND_BUFFER);
    }
}

/// Sends on a connected vsock socket; for a connection (stream or seqpacket), then
/// half-closes it and waits for the manager's EOF, which says the message was read
/// (libsystemd does the same).
fn send_connected(sock: &OwnedFd, ty: VsockType, payload: &[u8]) -> io::Result<()> {
    let mut sent = 0;
    while sent < payload.len() {
        match rustix::net::send(sock, &payload[sent..], SendFlags::NOSIGNAL) {
            Ok(n) => sent += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        if ty != VsockType::Stream {
            break;
        }
    }
    if ty != VsockType::Dgram {
        rustix::net::shutdown(sock, Shutdown::Write)?;
        let mut scratch = [0u8; 64];
        loop {
            match rustix::io::read(sock, &mut scratch) {
                Ok(0) => break,
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Polls `fd` until it reports a hang-up (or any event) or `timeout` passes.
fn wait_for_hangup(fd: &OwnedFd, timeout: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ts = rustix::time::Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut fds = [PollFd::new(fd, PollFlags::empty())];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) => return Err(Error::BarrierTimeout(timeout)),
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(Error::io("wait for barrier", e)),
        }
    }
}
