//! Notification messages: datagram validation, splitting into assignments, typed fields
//! and the formatting that inverts parsing.
//!
//! A message is an ordered list of `KEY=VALUE` assignments separated by `\n`; the final
//! newline is optional (libsystemd sends none). Parsing borrows from the datagram and
//! allocates nothing, so a receiver can inspect every message without touching the heap.

use std::fmt;

use crate::limits::{MAX_DATAGRAM, MAX_ERRNO, MAX_FDNAME};

/// Why a whole datagram was refused before any of its assignments were looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramError {
    /// The datagram has no bytes at all.
    Empty,
    /// The datagram is longer than [`MAX_DATAGRAM`] bytes.
    TooLarge {
        /// Its length in bytes.
        len: usize,
    },
    /// A NUL byte appears before the last byte.
    EmbeddedNul {
        /// Offset of the first NUL.
        offset: usize,
    },
}

impl fmt::Display for DatagramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatagramError::Empty => write!(f, "empty notification message"),
            DatagramError::TooLarge { len } => write!(
                f,
                "notification message of {len} bytes exceeds the {MAX_DATAGRAM}-byte limit"
            ),
            DatagramError::EmbeddedNul { offset } => {
                write!(
                    f,
                    "notification message has an embedded NUL at byte {offset}"
                )
            }
        }
    }
}

impl std::error::Error for DatagramError {}

/// Applies the receiver's datagram-level rules and returns the payload to split.
///
/// One trailing NUL is tolerated and removed (some senders include the C string's
/// terminator); any other NUL refuses the datagram, as does a length above
/// [`MAX_DATAGRAM`] or an empty payload.
pub fn check_datagram(datagram: &[u8]) -> Result<&[u8], DatagramError> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(DatagramError::TooLarge {
            len: datagram.len(),
        });
    }
    let payload = datagram.strip_suffix(b"\0").unwrap_or(datagram);
    if let Some(offset) = payload.iter().position(|&b| b == 0) {
        return Err(DatagramError::EmbeddedNul { offset });
    }
    if payload.is_empty() {
        return Err(DatagramError::Empty);
    }
    Ok(payload)
}

/// Iterates over the lines of a payload, skipping empty ones (an empty line carries no
/// assignment; systemd's receiver ignores it too).
pub fn lines(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    payload.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

/// `NotifyAccess=`: which processes of a service may send it notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyAccess {
    /// No process.
    None,
    /// Only the main process.
    Main,
    /// The main process and any process the manager started from an `Exec*=` line.
    Exec,
    /// Every process in the service's cgroup.
    All,
}

impl NotifyAccess {
    /// The spelling systemd uses.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyAccess::None => "none",
            NotifyAccess::Main => "main",
            NotifyAccess::Exec => "exec",
            NotifyAccess::All => "all",
        }
    }

    /// Parses systemd's spelling.
    pub fn parse(s: &str) -> Option<NotifyAccess> {
        Some(match s {
            "none" => NotifyAccess::None,
            "main" => NotifyAccess::Main,
            "exec" => NotifyAccess::Exec,
            "all" => NotifyAccess::All,
            _ => return None,
        })
    }
}

impl fmt::Display for NotifyAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One assignment of a notification message, typed.
///
/// Every key systemd's manager understands has its own variant; any other key is kept as
/// [`Field::Other`] so nothing a sender said is lost. Values borrow from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    /// `READY=1`: start-up is finished.
    Ready,
    /// `RELOADING=1`: the service is reloading its configuration.
    Reloading,
    /// `STOPPING=1`: the service is shutting down.
    Stopping,
    /// `MONOTONIC_USEC=`: `CLOCK_MONOTONIC` time of a `RELOADING=1`, in µs.
    MonotonicUsec(u64),
    /// `STATUS=`: a free-form status line (UTF-8).
    Status(&'a str),
    /// `ERRNO=`: an errno-style error code for a failure.
    Errno(u32),
    /// `BUSERROR=`: a D-Bus error name for a failure.
    BusError(&'a str),
    /// `VARLINKERROR=`: a Varlink error name for a failure.
    VarlinkError(&'a str),
    /// `EXIT_STATUS=`: the exit status the service will report.
    ExitStatus(u8),
    /// `MAINPID=`: the service's main process.
    MainPid(u32),
    /// `MAINPIDFDID=`: the pidfs inode of the main process, to pin it against PID reuse.
    MainPidFdId(u64),
    /// `MAINPIDFD=1`: the main process is given as a pidfd sent with the message.
    MainPidFd,
    /// `WATCHDOG=1`: a keep-alive ping.
    Watchdog,
    /// `WATCHDOG=trigger`: ask the manager to act as if the watchdog expired.
    WatchdogTrigger,
    /// `WATCHDOG_USEC=`: a new watchdog interval, in µs.
    WatchdogUsec(u64),
    /// `EXTEND_TIMEOUT_USEC=`: extend the current start/stop/runtime timeout by this many µs.
    ExtendTimeoutUsec(u64),
    /// `FDSTORE=1`: keep the file descriptors sent with this message.
    FdStore,
    /// `FDSTOREREMOVE=1`: remove stored file descriptors named by `FDNAME=`.
    FdStoreRemove,
    /// `FDNAME=`: the name of the file descriptors of `FDSTORE=1` / `FDSTOREREMOVE=1`.
    FdName(&'a str),
    /// `FDPOLL=`: whether the manager polls stored fds for errors (`FDPOLL=0` disables it).
    FdPoll(bool),
    /// `BARRIER=1`: a synchronisation point; its file descriptor is closed once every
    /// earlier message has been processed.
    Barrier,
    /// `NOTIFYACCESS=`: change the service's `NotifyAccess=` at run time.
    NotifyAccess(NotifyAccess),
    /// `RESTART_RESET=1`: reset the service's restart counter.
    RestartReset,
    /// Any other assignment, kept verbatim.
    Other {
        /// The key (non-empty, no `=`).
        key: &'a str,
        /// The value, as bytes (it need not be UTF-8).
        value: &'a [u8],
    },
}

/// Why an assignment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// The line has no `=`.
    NoEquals,
    /// The key is empty.
    EmptyKey,
    /// The key is not UTF-8.
    KeyNotUtf8,
    /// A value contains `\n` (it would inject another assignment) or NUL.
    ValueHasNewline,
    /// The key is known and its value is not one it accepts.
    BadValue(&'static str),
}

/// An assignment that cannot be parsed or formatted, with the offending text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The key, or the whole line when there is no `=` (lossily decoded).
    pub key: String,
    /// The value as received (lossily decoded), empty when there is none.
    pub value: String,
    /// What is wrong.
    pub kind: FieldErrorKind,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FieldErrorKind::NoEquals => write!(f, "'{}' is not a KEY=VALUE assignment", self.key),
            FieldErrorKind::EmptyKey => write!(f, "assignment '={}' has an empty key", self.value),
            FieldErrorKind::KeyNotUtf8 => write!(f, "assignment key '{}' is not UTF-8", self.key),
            FieldErrorKind::ValueHasNewline => write!(
                f,
                "value of {} contains a newline or NUL, which would split the message",
                self.key
            ),
            FieldErrorKind::BadValue(expected) => {
                write!(
                    f,
                    "invalid {}={}: expected {expected}",
                    self.key, self.value
                )
            }
        }
    }
}

impl std::error::Error for FieldError {}

impl FieldError {
    fn new(key: &[u8], value: &[u8], kind: FieldErrorKind) -> FieldError {
        FieldError {
            key: String::from_utf8_lossy(key).into_owned(),
            value: String::from_utf8_lossy(value).into_owned(),
            kind,
        }
    }
}

fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 20 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

fn flag_one(v: &[u8]) -> bool {
    v == b"1"
}

/// `fdname_is_valid()`: printable ASCII without `:`, at most [`MAX_FDNAME`] bytes.
pub fn fdname_is_valid(name: &str) -> bool {
    name.len() <= MAX_FDNAME
        && name
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b':')
}

/// Whether `key` is one of the keys with a typed variant (an `Other` with such a key
/// would not parse back as `Other`).
pub fn is_known_key(key: &str) -> bool {
    matches!(
        key,
        "READY"
            | "RELOADING"
            | "STOPPING"
            | "MONOTONIC_USEC"
            | "STATUS"
            | "ERRNO"
            | "BUSERROR"
            | "VARLINKERROR"
            | "EXIT_STATUS"
            | "MAINPID"
            | "MAINPIDFDID"
            | "MAINPIDFD"
            | "WATCHDOG"
            | "WATCHDOG_USEC"
            | "EXTEND_TIMEOUT_USEC"
            | "FDSTORE"
            | "FDSTOREREMOVE"
            | "FDNAME"
            | "FDPOLL"
            | "BARRIER"
            | "NOTIFYACCESS"
            | "RESTART_RESET"
    )
}

fn error_name_is_valid(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic())
}

impl<'a> Field<'a> {
    /// Parses one line (without its `\n`).
    pub fn parse(line: &'a [u8]) -> Result<Field<'a>, FieldError> {
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            return Err(FieldError::new(line, b"", FieldErrorKind::NoEquals));
        };
        let (key, value) = (&line[..eq], &line[eq + 1..]);
        if key.is_empty() {
            return Err(FieldError::new(key, value, FieldErrorKind::EmptyKey));
        }
        if value.contains(&b'\n') || value.contains(&0) || key.contains(&b'\n') {
            return Err(FieldError::new(key, value, FieldErrorKind::ValueHasNewline));
        }
        let bad = |expected| {
            Err(FieldError::new(
                key,
                value,
                FieldErrorKind::BadValue(expected),
            ))
        };
        let text = || std::str::from_utf8(value).ok();
        let field = match key {
            b"READY" if flag_one(value) => Field::Ready,
            b"READY" => return bad("1"),
            b"RELOADING" if flag_one(value) => Field::Reloading,
            b"RELOADING" => return bad("1"),
            b"STOPPING" if flag_one(value) => Field::Stopping,
            b"STOPPING" => return bad("1"),
            b"MONOTONIC_USEC" => match parse_u64(value) {
                Some(n) => Field::MonotonicUsec(n),
                None => return bad("an unsigned number of microseconds"),
            },
            b"STATUS" => match text() {
                Some(s) => Field::Status(s),
                None => return bad("valid UTF-8"),
            },
            b"ERRNO" => match parse_u64(value) {
                Some(n) if n <= u64::from(MAX_ERRNO) => Field::Errno(n as u32),
                _ => return bad("an errno number from 0 to 4095"),
            },
            b"BUSERROR" => match text() {
                Some(s) if error_name_is_valid(s) => Field::BusError(s),
                _ => return bad("an error name"),
            },
            b"VARLINKERROR" => match text() {
                Some(s) if error_name_is_valid(s) => Field::VarlinkError(s),
                _ => return bad("an error name"),
            },
            b"EXIT_STATUS" => match parse_u64(value) {
                Some(n) if n <= 255 => Field::ExitStatus(n as u8),
                _ => return bad("an exit status from 0 to 255"),
            },
            b"MAINPID" => match parse_u64(value) {
                Some(n) if n >= 1 && n <= i32::MAX as u64 => Field::MainPid(n as u32),
                _ => return bad("a process ID"),
            },
            b"MAINPIDFDID" => match parse_u64(value) {
                Some(n) => Field::MainPidFdId(n),
                None => return bad("a pidfd inode number"),
            },
            b"MAINPIDFD" if flag_one(value) => Field::MainPidFd,
            b"MAINPIDFD" => return bad("1"),
            b"WATCHDOG" if flag_one(value) => Field::Watchdog,
            b"WATCHDOG" if value == b"trigger" => Field::WatchdogTrigger,
            b"WATCHDOG" => return bad("1 or trigger"),
            b"WATCHDOG_USEC" => match parse_u64(value) {
                Some(n) => Field::WatchdogUsec(n),
                None => return bad("an unsigned number of microseconds"),
            },
            b"EXTEND_TIMEOUT_USEC" => match parse_u64(value) {
                Some(n) => Field::ExtendTimeoutUsec(n),
                None => return bad("an unsigned number of microseconds"),
            },
            b"FDSTORE" if flag_one(value) => Field::FdStore,
            b"FDSTORE" => return bad("1"),
            b"FDSTOREREMOVE" if flag_one(value) => Field::FdStoreRemove,
            b"FDSTOREREMOVE" => return bad("1"),
            b"FDNAME" => match text() {
                Some(s) if fdname_is_valid(s) => Field::FdName(s),
                _ => return bad("at most 255 printable ASCII characters without ':'"),
            },
            b"FDPOLL" => match value {
                b"0" => Field::FdPoll(false),
                b"1" => Field::FdPoll(true),
                _ => return bad("0 or 1"),
            },
            b"BARRIER" if flag_one(value) => Field::Barrier,
            b"BARRIER" => return bad("1"),
            b"NOTIFYACCESS" => match text().and_then(NotifyAccess::parse) {
                Some(a) => Field::NotifyAccess(a),
                None => return bad("none, main, exec or all"),
            },
            b"RESTART_RESET" if flag_one(value) => Field::RestartReset,
            b"RESTART_RESET" => return bad("1"),
            _ => match std::str::from_utf8(key) {
                Ok(key) => Field::Other { key, value },
                Err(_) => return Err(FieldError::new(key, value, FieldErrorKind::KeyNotUtf8)),
            },
        };
        Ok(field)
    }

    /// The key of this assignment, as spelled on the wire.
    pub fn key(&self) -> &'a str {
        match *self {
            Field::Ready => "READY",
            Field::Reloading => "RELOADING",
            Field::Stopping => "STOPPING",
            Field::MonotonicUsec(_) => "MONOTONIC_USEC",
            Field::Status(_) => "STATUS",
            Field::Errno(_) => "ERRNO",
            Field::BusError(_) => "BUSERROR",
            Field::VarlinkError(_) => "VARLINKERROR",
            Field::ExitStatus(_) => "EXIT_STATUS",
            Field::MainPid(_) => "MAINPID",
            Field::MainPidFdId(_) => "MAINPIDFDID",
            Field::MainPidFd => "MAINPIDFD",
            Field::Watchdog | Field::WatchdogTrigger => "WATCHDOG",
            Field::WatchdogUsec(_) => "WATCHDOG_USEC",
            Field::ExtendTimeoutUsec(_) => "EXTEND_TIMEOUT_USEC",
            Field::FdStore => "FDSTORE",
            Field::FdStoreRemove => "FDSTOREREMOVE",
            Field::FdName(_) => "FDNAME",
            Field::FdPoll(_) => "FDPOLL",
            Field::Barrier => "BARRIER",
            Field::NotifyAccess(_) => "NOTIFYACCESS",
            Field::RestartReset => "RESTART_RESET",
            Field::Other { key, .. } => key,
        }
    }

    /// Checks that this field formats to a line that parses back to itself: no `\n` or
    /// NUL anywhere, a key that is not empty and has no `=`, and a value the key accepts.
    pub fn validate(&self) -> Result<(), FieldError> {
        let bad = |kind| {
            let mut line = Vec::new();
            self.write_unchecked(&mut line);
            let eq = line.iter().position(|&b| b == b'=').unwrap_or(line.len());
            let value = line.get(eq + 1..).unwrap_or_default();
            Err(FieldError::new(&line[..eq], value, kind))
        };
        let clean = |s: &[u8]| !s.contains(&b'\n') && !s.contains(&0);
        match *self {
            Field::Status(s) if !clean(s.as_bytes()) => bad(FieldErrorKind::ValueHasNewline),
            Field::BusError(s) | Field::VarlinkError(s) if !error_name_is_valid(s) => {
                bad(FieldErrorKind::BadValue("an error name"))
            }
            Field::FdName(s) if !fdname_is_valid(s) => bad(FieldErrorKind::BadValue(
                "at most 255 printable ASCII characters without ':'",
            )),
            Field::Errno(n) if n > MAX_ERRNO => {
                bad(FieldErrorKind::BadValue("an errno number from 0 to 4095"))
            }
            Field::MainPid(n) if n == 0 || n > i32::MAX as u32 => {
                bad(FieldErrorKind::BadValue("a process ID"))
            }
            Field::Other { key, value } => {
                if key.is_empty() {
                    bad(FieldErrorKind::EmptyKey)
                } else if !clean(key.as_bytes()) || !clean(value) {
                    bad(FieldErrorKind::ValueHasNewline)
                } else if key.contains('=') || is_known_key(key) {
                    bad(FieldErrorKind::BadValue("an unknown key without '='"))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Appends `KEY=VALUE` (no newline) to `out` without validating.
    fn write_unchecked(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.key().as_bytes());
        out.push(b'=');
        let mut num = |n: u64| out.extend_from_slice(n.to_string().as_bytes());
        match *self {
            Field::Ready
            | Field::Reloading
            | Field::Stopping
            | Field::MainPidFd
            | Field::Watchdog
            | Field::FdStore
            | Field::FdStoreRemove
            | Field::Barrier
            | Field::RestartReset => out.push(b'1'),
            Field::WatchdogTrigger => out.extend_from_slice(b"trigger"),
            Field::MonotonicUsec(n)
            | Field::MainPidFdId(n)
            | Field::WatchdogUsec(n)
            | Field::ExtendTimeoutUsec(n) => num(n),
            Field::Errno(n) | Field::MainPid(n) => num(u64::from(n)),
            Field::ExitStatus(n) => num(u64::from(n)),
            Field::FdPoll(on) => out.push(if on { b'1' } else { b'0' }),
            Field::Status(s) | Field::BusError(s) | Field::VarlinkError(s) | Field::FdName(s) => {
                out.extend_from_slice(s.as_bytes())
            }
            Field::NotifyAccess(a) => out.extend_from_slice(a.as_str().as_bytes()),
            Field::Other { value, .. } => out.extend_from_slice(value),
        }
    }

    /// Appends `KEY=VALUE` (no newline) to `out`, refusing a field that would not parse
    /// back to itself — in particular any value containing `\n`, which would inject an
    /// assignment.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), FieldError> {
        self.validate()?;
        self.write_unchecked(out);
        Ok(())
    }
}

/// Formats fields as a message: `KEY=VALUE` lines joined by `\n`, with no trailing
/// newline — the bytes libsystemd and systemd-notify put on the wire.
///
/// Fails, writing nothing, if any field would not parse back to itself.
pub fn format(fields: &[Field<'_>]) -> Result<Vec<u8>, FieldError> {
    let mut out = Vec::with_capacity(fields.len() * 16);
    format_into(fields, &mut out)?;
    Ok(out)
}

/// Like [`format`], appending to `out`. On error `out` is left as it was.
pub fn format_into(fields: &[Field<'_>], out: &mut Vec<u8>) -> Result<(), FieldError> {
    for f in fields {
        f.validate()?;
    }
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        f.write_unchecked(out);
    }
    Ok(())
}

/// Parses a payload (see [`check_datagram`]) into its fields, in order, failing at the
/// first assignment that does not parse.
///
/// A receiver that wants systemd's leniency — act on the good assignments, log the bad
/// ones — iterates [`lines`] and calls [`Field::parse`] on each instead.
pub fn parse(payload: &[u8]) -> Result<Vec<Field<'_>>, FieldError> {
    lines(payload).map(Field::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagram_rules() {
        type Case<'a> = (&'a [u8], Result<&'a [u8], DatagramError>);
        let cases: &[Case<'_>] = &[
            (b"READY=1", Ok(b"READY=1")),
            (b"READY=1\0", Ok(b"READY=1")),
            (
                b"READY=1\0\0",
                Err(DatagramError::EmbeddedNul { offset: 7 }),
            ),
            (b"READY\0=1", Err(DatagramError::EmbeddedNul { offset: 5 })),
            (b"", Err(DatagramError::Empty)),
            (b"\0", Err(DatagramError::Empty)),
        ];
        for (input, want) in cases {
            assert_eq!(check_datagram(input), *want, "input {input:?}");
        }
        let big = vec![b'x'; MAX_DATAGRAM + 1];
        assert_eq!(
            check_datagram(&big),
            Err(DatagramError::TooLarge { len: 4097 })
        );
        let max = vec![b'x'; MAX_DATAGRAM];
        assert!(check_datagram(&max).is_ok());
    }

    #[test]
    fn lines_skip_empty_and_trailing_newline() {
        let got: Vec<&[u8]> = lines(b"A=1\n\nB=2\n").collect();
        assert_eq!(got, vec![&b"A=1"[..], b"B=2"]);
        assert_eq!(lines(b"\n\n").count(), 0);
    }

    #[test]
    fn parses_every_known_key() {
        let cases: &[(&str, Field<'_>)] = &[
            ("READY=1", Field::Ready),
            ("RELOADING=1", Field::Reloading),
            ("STOPPING=1", Field::Stopping),
            (
                "MONOTONIC_USEC=123456789",
                Field::MonotonicUsec(123_456_789),
            ),
            (
                "STATUS=Serving 3 clients ✓",
                Field::Status("Serving 3 clients ✓"),
            ),
            ("STATUS=", Field::Status("")),
            ("STATUS=a=b", Field::Status("a=b")),
            ("ERRNO=2", Field::Errno(2)),
            ("ERRNO=4095", Field::Errno(4095)),
            (
                "BUSERROR=org.freedesktop.DBus.Error.Failed",
                Field::BusError("org.freedesktop.DBus.Error.Failed"),
            ),
            (
                "VARLINKERROR=io.systemd.Foo",
                Field::VarlinkError("io.systemd.Foo"),
            ),
            ("EXIT_STATUS=255", Field::ExitStatus(255)),
            ("MAINPID=4711", Field::MainPid(4711)),
            (
                "MAINPIDFDID=18446744073709551615",
                Field::MainPidFdId(u64::MAX),
            ),
            ("MAINPIDFD=1", Field::MainPidFd),
            ("WATCHDOG=1", Field::Watchdog),
            ("WATCHDOG=trigger", Field::WatchdogTrigger),
            // 5 hours: beyond what a u32 of microseconds can hold.
            (
                "WATCHDOG_USEC=18000000000",
                Field::WatchdogUsec(18_000_000_000),
            ),
            (
                "EXTEND_TIMEOUT_USEC=5000000",
                Field::ExtendTimeoutUsec(5_000_000),
            ),
            ("FDSTORE=1", Field::FdStore),
            ("FDSTOREREMOVE=1", Field::FdStoreRemove),
            ("FDNAME=listen-tcp", Field::FdName("listen-tcp")),
            ("FDNAME=", Field::FdName("")),
            ("FDPOLL=0", Field::FdPoll(false)),
            ("FDPOLL=1", Field::FdPoll(true)),
            ("BARRIER=1", Field::Barrier),
            ("NOTIFYACCESS=none", Field::NotifyAccess(NotifyAccess::None)),
            ("NOTIFYACCESS=main", Field::NotifyAccess(NotifyAccess::Main)),
            ("NOTIFYACCESS=exec", Field::NotifyAccess(NotifyAccess::Exec)),
            ("NOTIFYACCESS=all", Field::NotifyAccess(NotifyAccess::All)),
            ("RESTART_RESET=1", Field::RestartReset),
            (
                "X_MY_APP=whatever",
                Field::Other {
                    key: "X_MY_APP",
                    value: b"whatever",
                },
            ),
            (
                "X_EMPTY=",
                Field::Other {
                    key: "X_EMPTY",
                    value: b"",
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                Field::parse(line.as_bytes()).as_ref(),
                Ok(want),
                "line {line}"
            );
            // Formatting is the exact inverse.
            assert_eq!(
                format(&[*want]).unwrap(),
                line.as_bytes(),
                "format of {want:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_values_with_the_key_named() {
        let cases: &[(&[u8], FieldErrorKind)] = &[
            (b"READY=0", FieldErrorKind::BadValue("1")),
            (b"READY=yes", FieldErrorKind::BadValue("1")),
            (b"READY", FieldErrorKind::NoEquals),
            (b"=1", FieldErrorKind::EmptyKey),
            (b"STATUS=\xff\xfe", FieldErrorKind::BadValue("valid UTF-8")),
            (
                b"ERRNO=4096",
                FieldErrorKind::BadValue("an errno number from 0 to 4095"),
            ),
            (
                b"ERRNO=-1",
                FieldErrorKind::BadValue("an errno number from 0 to 4095"),
            ),
            (b"MAINPID=0", FieldErrorKind::BadValue("a process ID")),
            (
                b"MAINPID=2147483648",
                FieldErrorKind::BadValue("a process ID"),
            ),
            (b"MAINPID= 12", FieldErrorKind::BadValue("a process ID")),
            (b"MAINPID=+12", FieldErrorKind::BadValue("a process ID")),
            (
                b"EXIT_STATUS=256",
                FieldErrorKind::BadValue("an exit status from 0 to 255"),
            ),
            (b"WATCHDOG=2", FieldErrorKind::BadValue("1 or trigger")),
            (
                b"WATCHDOG_USEC=",
                FieldErrorKind::BadValue("an unsigned number of microseconds"),
            ),
            (
                b"WATCHDOG_USEC=18446744073709551616",
                FieldErrorKind::BadValue("an unsigned number of microseconds"),
            ),
            (
                b"FDNAME=a:b",
                FieldErrorKind::BadValue("at most 255 printable ASCII characters without ':'"),
            ),
            (
                b"FDNAME=tab\there",
                FieldErrorKind::BadValue("at most 255 printable ASCII characters without ':'"),
            ),
            (b"FDPOLL=2", FieldErrorKind::BadValue("0 or 1")),
            (
                b"NOTIFYACCESS=some",
                FieldErrorKind::BadValue("none, main, exec or all"),
            ),
            (b"BUSERROR=", FieldErrorKind::BadValue("an error name")),
            (b"BARRIER=2", FieldErrorKind::BadValue("1")),
            (b"\xffKEY=1", FieldErrorKind::KeyNotUtf8),
        ];
        for (line, kind) in cases {
            let err = Field::parse(line).unwrap_err();
            assert_eq!(err.kind, *kind, "line {:?}", String::from_utf8_lossy(line));
        }
        let err = Field::parse(b"MAINPID=abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid MAINPID=abc: expected a process ID"
        );
        let long = format!("FDNAME={}", "n".repeat(256));
        assert!(Field::parse(long.as_bytes()).is_err());
        let ok = format!("FDNAME={}", "n".repeat(255));
        assert!(Field::parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn typed_api_refuses_injection() {
        for f in [
            Field::Status("ok\nREADY=1"),
            Field::Status("nul\0"),
            Field::Other {
                key: "X",
                value: b"a\nb",
            },
            Field::Other {
                key: "A=B",
                value: b"c",
            },
            Field::Other {
                key: "",
                value: b"c",
            },
            Field::Other {
                key: "READY",
                value: b"1",
            },
            Field::FdName("a:b"),
            Field::BusError(""),
        ] {
            let mut out = b"keep".to_vec();
            assert!(format_into(&[Field::Ready, f], &mut out).is_err(), "{f:?}");
            assert_eq!(out, b"keep", "nothing written half-way for {f:?}");
        }
        let err = format(&[Field::Status("a\nb")]).unwrap_err();
        assert_eq!(err.kind, FieldErrorKind::ValueHasNewline);
    }

    #[test]
    fn message_order_is_kept() {
        let msg = b"READY=1\nSTATUS=up\nX_A=1\nSTATUS=again";
        let fields = parse(msg).unwrap();
        assert_eq!(
            fields,
            vec![
                Field::Ready,
                Field::Status("up"),
                Field::Other {
                    key: "X_A",
                    value: b"1"
                },
                Field::Status("again")
            ]
        );
        assert_eq!(format(&fields).unwrap(), msg);
        // A trailing newline is optional on input and never produced on output.
        assert_eq!(parse(b"READY=1\n").unwrap(), vec![Field::Ready]);
    }
}
