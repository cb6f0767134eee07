//! The client's error type.

use std::fmt;
use std::io;
use std::time::Duration;

use herald_proto::env::EnvError;
use herald_proto::{AddressError, FieldError};

/// Why a notification could not be sent, or a barrier or environment query failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `$NOTIFY_SOCKET` is set but not an address.
    Address(AddressError),
    /// A field would not parse back to itself (for example a value with a newline).
    Field(FieldError),
    /// The message is longer than a receiver accepts.
    TooLarge {
        /// Its length in bytes.
        len: usize,
    },
    /// More file descriptors than one `sendmsg` can carry.
    TooManyFds {
        /// How many were given.
        count: usize,
    },
    /// File descriptors cannot be passed over AF_VSOCK.
    FdsOverVsock,
    /// A system call failed.
    Io {
        /// What was being done, e.g. `"send to /run/herald/notify"`.
        context: String,
        /// The error.
        source: io::Error,
    },
    /// The barrier's file descriptor was not closed by the receiver in time.
    BarrierTimeout(Duration),
    /// A variable the manager set (`WATCHDOG_USEC`, `LISTEN_FDS`, …) is malformed.
    Env(EnvError),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: impl Into<io::Error>) -> Error {
        Error::Io {
            context: context.into(),
            source: source.into(),
        }
    }

    /// The errno this error stands for, as libsystemd would return it negated.
    pub fn raw_os_error(&self) -> i32 {
        match self {
            Error::Address(_) | Error::Field(_) | Error::Env(_) => libc_errno::EINVAL,
            Error::TooLarge { .. } => libc_errno::EMSGSIZE,
            Error::TooManyFds { .. } => libc_errno::E2BIG,
            Error::FdsOverVsock => libc_errno::EOPNOTSUPP,
            Error::Io { source, .. } => source.raw_os_error().unwrap_or(libc_errno::EIO),
            Error::BarrierTimeout(_) => libc_errno::ETIMEDOUT,
        }
    }
}

/// The few errno values this crate names, without depending on libc.
pub(crate) mod libc_errno {
    pub const EINVAL: i32 = rustix::io::Errno::INVAL.raw_os_error();
    pub const EMSGSIZE: i32 = rustix::io::Errno::MSGSIZE.raw_os_error();
    pub const E2BIG: i32 = rustix::io::Errno::TOOBIG.raw_os_error();
    pub const EOPNOTSUPP: i32 = rustix::io::Errno::OPNOTSUPP.raw_os_error();
    pub const EIO: i32 = rustix::io::Errno::IO.raw_os_error();
    pub const ETIMEDOUT: i32 = rustix::io::Errno::TIMEDOUT.raw_os_error();
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Address(e) => e.fmt(f),
            Error::Field(e) => e.fmt(f),
            Error::TooLarge { len } => write!(
                f,
                "notification message is {len} bytes; receivers accept at most {}",
                herald_proto::limits::MAX_DATAGRAM
            ),
            Error::TooManyFds { count } => write!(
                f,
                "{count} file descriptors given; one message carries at most {}",
                herald_proto::limits::MAX_FDS_SEND
            ),
            Error::FdsOverVsock => write!(f, "file descriptors cannot be sent over AF_VSOCK"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::BarrierTimeout(t) => {
                write!(
                    f,
                    "barrier timed out after {:.3} s: the manager did not close the barrier fd",
                    t.as_secs_f64()
                )
            }
            Error::Env(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Address(e) => Some(e),
            Error::Field(e) => Some(e),
            Error::Io { source, .. } => Some(source),
            Error::Env(e) => Some(e),
            _ => None,
        }
    }
}

impl From<AddressError> for Error {
    fn from(e: AddressError) -> Error {
        Error::Address(e)
    }
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Error {
        Error::Field(e)
    }
}

impl From<EnvError> for Error {
    fn from(e: EnvError) -> Error {
        Error::Env(e)
    }
}
