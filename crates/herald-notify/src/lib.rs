//! The sd_notify client: how a service tells its manager it is ready, reloading, stopping,
//! what its status is, that it is alive (watchdog), and which file descriptors to keep.
//!
//! It speaks the protocol of sd_notify(3) byte for byte, to systemd or to herald, and
//! depends only on rustix and herald's pure protocol crate.
//!
//! ```no_run
//! use std::time::Duration;
//! use herald_notify::{Field, Delivery};
//!
//! # fn main() -> Result<(), herald_notify::Error> {
//! // ... bind sockets, load configuration ...
//! match herald_notify::notify(false, &[Field::Ready, Field::Status("Listening on :8080")])? {
//!     Delivery::Sent => {}
//!     Delivery::NotSupervised => eprintln!("no NOTIFY_SOCKET: running without a manager"),
//! }
//! // Wait until the manager has processed everything sent so far.
//! herald_notify::barrier(false, Duration::from_secs(5))?;
//!
//! // Ping the watchdog at half the interval the manager asked for.
//! if let Some(interval) = herald_notify::watchdog_enabled(false)? {
//!     let _ping_every = interval / 2;
//!     herald_notify::notify(false, &[Field::Watchdog])?;
//! }
//! # Ok(()) }
//! ```
//!
//! An unset `$NOTIFY_SOCKET` means the process is not supervised: every call succeeds
//! with [`Delivery::NotSupervised`] and sends nothing. Functions taking `unset_env`
//! remove the variables they read afterwards (as libsystemd's `unset_environment`), so
//! child processes do not inherit them; as with `unsetenv(3)`, do that only while no
//! other thread reads the environment.
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod send;
mod sys;

use std::ffi::OsString;
use std::os::fd::{BorrowedFd, RawFd};
use std::path::Path;
use std::time::Duration;

pub use error::Error;
pub use herald_proto::message::{Field, NotifyAccess};
pub use herald_proto::{NotifyAddress, VsockType};
pub use send::{KernelVsock, Notifier, VsockConnector};

/// The environment variable naming the manager's notification socket.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// What became of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The message was handed to the manager's socket.
    Sent,
    /// `$NOTIFY_SOCKET` is unset: there is no manager to tell, and nothing was sent.
    NotSupervised,
}

fn take_env(name: &str, unset_env: bool) -> Option<OsString> {
    let value = std::env::var_os(name);
    if unset_env {
        std::env::remove_var(name);
    }
    value
}

/// The notifier for `$NOTIFY_SOCKET`, or `None` when it is unset.
pub fn notifier_from_env(unset_env: bool) -> Result<Option<Notifier>, Error> {
    match take_env(NOTIFY_SOCKET, unset_env) {
        None => Ok(None),
        Some(v) => Ok(Some(Notifier::new(NotifyAddress::parse(&v)?))),
    }
}

fn with_notifier(
    unset_env: bool,
    f: impl FnOnce(&Notifier) -> Result<(), Error>,
) -> Result<Delivery, Error> {
    match notifier_from_env(unset_env)? {
        None => Ok(Delivery::NotSupervised),
        Some(n) => f(&n).map(|()| Delivery::Sent),
    }
}

/// Sends `fields` to `$NOTIFY_SOCKET` (`sd_notify`).
pub fn notify(unset_env: bool, fields: &[Field<'_>]) -> Result<Delivery, Error> {
    with_notifier(unset_env, |n| n.notify(fields))
}

/// Sends a preformatted message (`KEY=VALUE` lines) as is — what `sd_notify(0, state)`
/// does with its string. Only the receiver's size limit is checked.
pub fn notify_raw(unset_env: bool, message: &[u8]) -> Result<Delivery, Error> {
    with_notifier(unset_env, |n| n.send_raw(message, &[], None))
}

/// Sends `fields` with file descriptors (`sd_notify_with_fds`), e.g. with `FDSTORE=1`.
pub fn notify_with_fds(
    unset_env: bool,
    fields: &[Field<'_>],
    fds: &[BorrowedFd<'_>],
) -> Result<Delivery, Error> {
    with_notifier(unset_env, |n| n.notify_with_fds(fields, fds))
}

/// Sends `fields` on behalf of process `pid` (`sd_pid_notify`); see
/// [`Notifier::pid_notify_with_fds`].
pub fn pid_notify(unset_env: bool, pid: u32, fields: &[Field<'_>]) -> Result<Delivery, Error> {
    with_notifier(unset_env, |n| n.pid_notify_with_fds(Some(pid), fields, &[]))
}

/// Sends `fields` and fds on behalf of process `pid` (`sd_pid_notify_with_fds`).
pub fn pid_notify_with_fds(
    unset_env: bool,
    pid: u32,
    fields: &[Field<'_>],
    fds: &[BorrowedFd<'_>],
) -> Result<Delivery, Error> {
    with_notifier(unset_env, |n| n.pid_notify_with_fds(Some(pid), fields, fds))
}

/// Waits until the manager has processed every message sent before
/// (`sd_notify_barrier`). Fails with [`Error::BarrierTimeout`] after `timeout`.
pub fn barrier(unset_env: bool, timeout: Duration) -> Result<Delivery, Error> {
    with_notifier(unset_env, |n| n.barrier(timeout))
}

/// Sends `fields` as `pid`, then waits on a barrier (`sd_pid_notify_barrier`).
pub fn pid_notify_barrier(
    unset_env: bool,
    pid: u32,
    fields: &[Field<'_>],
    timeout: Duration,
) -> Result<Delivery, Error> {
    with_notifier(unset_env, |n| {
        n.pid_notify_barrier(Some(pid), fields, timeout)
    })
}

fn own_pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// The watchdog interval the manager expects pings within, if it enabled the watchdog
/// for this process (`sd_watchdog_enabled`): `$WATCHDOG_USEC`, when `$WATCHDOG_PID` is
/// unset or names this process.
pub fn watchdog_enabled(unset_env: bool) -> Result<Option<Duration>, Error> {
    let usec = take_env("WATCHDOG_USEC", unset_env);
    let pid = take_env("WATCHDOG_PID", unset_env);
    let (usec, pid) = (
        usec.as_deref().map(|v| v.to_string_lossy()),
        pid.as_deref().map(|v| v.to_string_lossy()),
    );
    let interval = herald_proto::env::watchdog_usec(usec.as_deref(), pid.as_deref(), own_pid())?;
    Ok(interval.map(Duration::from_micros))
}

/// A file descriptor passed by socket activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenFd {
    /// The descriptor number (3, 4, …). The process owns it; wrap it in an `OwnedFd`
    /// with `from_raw_fd` once, where it is used.
    pub fd: RawFd,
    /// Its name from `$LISTEN_FDNAMES`, or `unknown`.
    pub name: String,
}

/// The file descriptors passed by socket activation, with their names
/// (`sd_listen_fds_with_names`). Each gets `FD_CLOEXEC`, so children do not inherit it.
pub fn listen_fds(unset_env: bool) -> Result<Vec<ListenFd>, Error> {
    let pid = take_env("LISTEN_PID", unset_env);
    let count = take_env("LISTEN_FDS", unset_env);
    let names = take_env("LISTEN_FDNAMES", unset_env);
    let lossy = |v: &Option<OsString>| v.as_deref().map(|v| v.to_string_lossy().into_owned());
    let names = herald_proto::env::listen_fds(
        lossy(&pid).as_deref(),
        lossy(&count).as_deref(),
        lossy(&names).as_deref(),
        own_pid(),
    )?;
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.into_iter().enumerate() {
        let fd = herald_proto::limits::LISTEN_FDS_START + i as RawFd;
        sys::set_cloexec(fd)
            .map_err(|e| Error::io(format!("set FD_CLOEXEC on passed fd {fd}"), e))?;
        out.push(ListenFd { fd, name });
    }
    Ok(out)
}

/// Whether the system was booted with systemd as its init (`sd_booted`): whether
/// `/run/systemd/system/` is a directory.
pub fn booted() -> bool {
    Path::new("/run/systemd/system")
        .symlink_metadata()
        .is_ok_and(|m| m.is_dir())
}
