//! Errors and warnings.
//!
//! This module owns the two diagnostic types of the crate: [`Error`], a
//! problem that makes a unit fail to load (systemd's "bad-setting" /
//! "not-found" / "masked" load states), and [`Warning`], a problem that
//! systemd logs and then ignores (unknown keys, unparsable values, ...).
//! Both carry the file path and line number they refer to.

use std::fmt;
use std::path::PathBuf;

/// A fatal problem: the unit cannot be loaded.
///
/// Displayed as `path:LINE: key: message`. Parts that are unknown are
/// left out: `line` is `0` when the problem is not tied to one line
/// (for example "Service has no ExecStart= ..." or an I/O error), `path`
/// is empty when no file is involved (for example "Unit x.service not
/// found."), and `key` is `None` when no directive is involved.
#[derive(Debug)]
pub struct Error {
    /// File the problem was found in; empty when no file is involved.
    pub path: PathBuf,
    /// 1-based line number; `0` when the problem concerns the whole unit.
    pub line: usize,
    /// Directive (`ExecStart`, `Type`, ...) the problem concerns, if any.
    pub key: Option<String>,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl Error {
    /// Builds an error.
    pub fn new(path: impl Into<PathBuf>, line: usize, key: Option<&str>, kind: ErrorKind) -> Self {
        Error {
            path: path.into(),
            line,
            key: key.map(str::to_owned),
            kind,
        }
    }

    /// Builds an error that concerns no file (bad unit name, unit not found).
    pub fn without_file(kind: ErrorKind) -> Self {
        Error::new(PathBuf::new(), 0, None, kind)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.as_os_str().is_empty() {
            write!(f, "{}", self.path.display())?;
            if self.line > 0 {
                write!(f, ":{}", self.line)?;
            }
            f.write_str(": ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// The reason an [`Error`] was raised.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file could not be read.
    #[error("{0}")]
    Io(std::io::Error),
    /// A physical line is longer than 1 MiB (systemd's `LONG_LINE_MAX`).
    #[error("Line too long")]
    LineTooLong,
    /// A logical line joined from continuation lines is longer than 1 MiB.
    #[error("Continuation line too long")]
    ContinuationTooLong,
    /// A line starts with `[` but does not end with `]`.
    #[error("Invalid section header '{0}'")]
    InvalidSectionHeader(String),
    /// A section name contains control characters, quotes or backslashes.
    #[error("Bad characters in section header '{0}'")]
    BadSectionHeader(String),
    /// A `%` specifier could not be resolved.
    #[error("Failed to resolve unit specifiers in '{text}': {error}")]
    Specifier {
        /// The text that contained the specifier.
        text: String,
        /// Why resolution failed.
        error: crate::specifier::SpecifierError,
    },
    /// A command line (`ExecStart=` and friends) is malformed.
    #[error("{0}")]
    InvalidCommand(String),
    /// A setting that systemd treats as fatal when invalid
    /// (`WorkingDirectory=`, `User=`, `Group=`).
    #[error("{0}")]
    InvalidSetting(String),
    /// `Type=` names a service type systemd knows but herald does not run.
    #[error("Type={0} is not supported by herald (supported: simple, exec, notify, notify-reload, oneshot)")]
    UnsupportedType(String),
    /// Neither `ExecStart=` nor `ExecStop=` is set.
    #[error("Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing.")]
    NoCommands,
    /// `ExecStart=` is missing and `Type=` is not `oneshot`.
    #[error("Service has no ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.")]
    NoExecStart,
    /// `ExecStart=` is missing and `RemainAfterExit=yes` is not set.
    #[error("Service has no ExecStart= and no SuccessAction= settings and does not have RemainAfterExit=yes set. Refusing.")]
    NoExecStartWithoutRemain,
    /// More than one `ExecStart=` command and `Type=` is not `oneshot`.
    #[error("Service has more than one ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.")]
    MultipleExecStart,
    /// `Type=oneshot` combined with `Restart=always` or `Restart=on-success`.
    #[error("Service has Restart= set to either always or on-success, which isn't allowed for Type=oneshot services. Refusing.")]
    OneshotRestart,
    /// The unit name is malformed or not a loadable service name.
    #[error("Invalid unit name '{name}': {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// No unit file (nor template) of that name exists in the search path.
    #[error("Unit {0} not found.")]
    NotFound(String),
    /// The unit file is empty or a symlink to `/dev/null`.
    #[error("Unit {0} is masked.")]
    Masked(String),
}

/// A non-fatal problem: systemd logs it and ignores the offending line or
/// value, and so does this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// File the problem was found in.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// Directive the problem concerns, if any.
    pub key: Option<String>,
    /// Category, for callers that want to act on some warnings.
    pub kind: WarningKind,
    /// Human readable text, worded like systemd's log message.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// Category of a [`Warning`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarningKind {
    /// A directive this crate does not know ("Unknown key name ...").
    UnknownKey,
    /// A section this crate does not know ("Unknown section ...").
    UnknownSection,
    /// A malformed line: no `=`, no key, assignment before any section,
    /// invalid UTF-8.
    Syntax,
    /// A value that could not be parsed and was ignored.
    InvalidValue,
    /// A command line prefixed with `-` that could not be parsed; it was
    /// dropped, as systemd does.
    IgnoredCommand,
    /// A setting that works but is deprecated (e.g. `KillMode=none`).
    Deprecated,
}
