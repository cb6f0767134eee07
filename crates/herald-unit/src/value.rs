//! Scalar value parsers: booleans, time spans (systemd.time(7)), signals,
//! the enumerations of systemd.service(5)/systemd.kill(5), user and group
//! names, environment variable names, and path checks.

use std::fmt;
use std::time::Duration;

/// Parses a boolean the way systemd does: `1`, `yes`, `y`, `true`, `t`,
/// `on` and `0`, `no`, `n`, `false`, `f`, `off`, case-insensitively.
///
/// ```
/// assert_eq!(herald_unit::parse_bool("Yes"), Some(true));
/// assert_eq!(herald_unit::parse_bool("off"), Some(false));
/// assert_eq!(herald_unit::parse_bool("maybe"), None);
/// ```
pub fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 6] = ["1", "yes", "y", "true", "t", "on"];
    const FALSE: [&str; 6] = ["0", "no", "n", "false", "f", "off"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

/// Why a time span could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimespanError {
    /// Not a valid time span.
    #[error("invalid time span")]
    Invalid,
    /// Negative, or too large to represent in microseconds.
    #[error("time span out of range")]
    OutOfRange,
}

const USEC_PER_SEC: u64 = 1_000_000;
const UNITS: &[(&str, u64)] = &[
    // Order matters: the first prefix that matches wins.
    ("seconds", USEC_PER_SEC),
    ("second", USEC_PER_SEC),
    ("sec", USEC_PER_SEC),
    ("s", USEC_PER_SEC),
    ("minutes", 60 * USEC_PER_SEC),
    ("minute", 60 * USEC_PER_SEC),
    ("min", 60 * USEC_PER_SEC),
    ("months", 2_629_800 * USEC_PER_SEC),
    ("month", 2_629_800 * USEC_PER_SEC),
    ("M", 2_629_800 * USEC_PER_SEC),
    ("msec", 1000),
    ("ms", 1000),
    ("m", 60 * USEC_PER_SEC),
    ("hours", 3600 * USEC_PER_SEC),
    ("hour", 3600 * USEC_PER_SEC),
    ("hr", 3600 * USEC_PER_SEC),
    ("h", 3600 * USEC_PER_SEC),
    ("days", 86_400 * USEC_PER_SEC),
    ("day", 86_400 * USEC_PER_SEC),
    ("d", 86_400 * USEC_PER_SEC),
    ("weeks", 604_800 * USEC_PER_SEC),
    ("week", 604_800 * USEC_PER_SEC),
    ("w", 604_800 * USEC_PER_SEC),
    ("years", 31_557_600 * USEC_PER_SEC),
    ("year", 31_557_600 * USEC_PER_SEC),
    ("y", 31_557_600 * USEC_PER_SEC),
    ("usec", 1),
    ("us", 1),
    ("\u{3bc}s", 1),
    ("\u{b5}s", 1),
];

fn skip_ws(s: &str) -> &str {
    s.trim_start_matches([' ', '\t', '\n', '\r'])
}

/// Parses a time span as described in systemd.time(7), with seconds as
/// the default unit: `"5"`, `"5s"`, `"1min 30s"`, `"1min30s"`, `"2h"`,
/// `"500ms"`, `"100us"`, `"1.5s"`, `"infinity"`.
///
/// Returns `Ok(None)` for `infinity` and `Ok(Some(duration))` otherwise,
/// with microsecond precision (finer fractions are dropped, as systemd
/// does). `"0"` is `Some(Duration::ZERO)`; what zero means is up to the
/// setting (timeouts treat it as "disabled").
///
/// ```
/// use std::time::Duration;
/// use herald_unit::parse_timespan;
/// assert_eq!(parse_timespan("1min 30s"), Ok(Some(Duration::from_secs(90))));
/// assert_eq!(parse_timespan("500ms"), Ok(Some(Duration::from_millis(500))));
/// assert_eq!(parse_timespan("infinity"), Ok(None));
/// assert!(parse_timespan("5 parsecs").is_err());
/// ```
pub fn parse_timespan(s: &str) -> Result<Option<Duration>, TimespanError> {
    let usec = parse_time_usec(s, USEC_PER_SEC)?;
    Ok(usec.map(Duration::from_micros))
}

/// Core of [`parse_timespan`]: microseconds, `None` for infinity.
fn parse_time_usec(s: &str, default_unit: u64) -> Result<Option<u64>, TimespanError> {
    let mut p = skip_ws(s);
    if let Some(rest) = p.strip_prefix("infinity") {
        return if skip_ws(rest).is_empty() {
            Ok(None)
        } else {
            Err(TimespanError::Invalid)
        };
    }

    let mut total: u64 = 0;
    let mut something = false;
    loop {
        p = skip_ws(p);
        if p.is_empty() {
            if !something {
                return Err(TimespanError::Invalid);
            }
            break;
        }
        if p.starts_with('-') {
            return Err(TimespanError::OutOfRange);
        }

        let int_len = p.bytes().take_while(u8::is_ascii_digit).count();
        let int_digits = &p[..int_len];
        let after_int = &p[int_len..];
        let (frac_digits, after_number) = match after_int.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                if n == 0 {
                    // "3.", "3.s", "0.-0"
                    return Err(TimespanError::Invalid);
                }
                (&f[..n], &f[n..])
            }
            None if int_len == 0 => return Err(TimespanError::Invalid),
            None => ("", after_int),
        };
        let whole: u64 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().map_err(|_| TimespanError::OutOfRange)?
        };

        let unit_text = skip_ws(after_number);
        let (multiplier, rest) = match UNITS.iter().find(|(name, _)| unit_text.starts_with(name)) {
            Some((name, mult)) => (*mult, &unit_text[name.len()..]),
            None => {
                if unit_text.len() == after_number.len() && !unit_text.is_empty() {
                    // "12.34.56", "5x": something follows that is neither a
                    // unit nor separated by whitespace.
                    return Err(TimespanError::Invalid);
                }
                (default_unit, unit_text)
            }
        };
        p = rest;

        let k = whole
            .checked_mul(multiplier)
            .ok_or(TimespanError::OutOfRange)?;
        total = total.checked_add(k).ok_or(TimespanError::OutOfRange)?;
        let mut m = multiplier / 10;
        for d in frac_digits.bytes() {
            total = total
                .checked_add(u64::from(d - b'0') * m)
                .ok_or(TimespanError::OutOfRange)?;
            m /= 10;
        }
        if total == u64::MAX {
            return Err(TimespanError::OutOfRange);
        }
        something = true;
    }
    Ok(Some(total))
}

/// A signal, stored by number.
///
/// Names use the Linux "asm-generic" numbering shared by x86, ARM, AArch64,
/// RISC-V, PowerPC and s390 (not the MIPS, SPARC or Alpha numbering);
/// real-time signals use glibc's `SIGRTMIN` = 34 and `SIGRTMAX` = 64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(i32);

const SIGNAL_NAMES: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];
const SIGRTMIN: i32 = 34;
const SIGRTMAX: i32 = 64;

impl Signal {
    /// `SIGHUP`
    pub const SIGHUP: Signal = Signal(1);
    /// `SIGINT`
    pub const SIGINT: Signal = Signal(2);
    /// `SIGKILL`
    pub const SIGKILL: Signal = Signal(9);
    /// `SIGTERM`, the default `KillSignal=`.
    pub const SIGTERM: Signal = Signal(15);

    /// Parses `SIGTERM`, `TERM`, `15`, `RTMIN`, `RTMIN+3`, `SIGRTMAX-1`
    /// (names are case-sensitive, as in systemd).
    pub fn parse(s: &str) -> Option<Signal> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            let n: i32 = s.parse().ok()?;
            return (1..=SIGRTMAX).contains(&n).then_some(Signal(n));
        }
        let name = s.strip_prefix("SIG").unwrap_or(s);
        if let Some(i) = SIGNAL_NAMES.iter().position(|n| *n == name) {
            return Some(Signal(i as i32 + 1));
        }
        if name == "POLL" {
            return Some(Signal(29));
        }
        if name == "IOT" {
            return Some(Signal(6));
        }
        let offset = |rest: &str, sign: char| -> Option<i32> {
            if rest.is_empty() {
                return Some(0);
            }
            let digits = rest.strip_prefix(sign)?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: i32 = digits.parse().ok()?;
            (n <= SIGRTMAX - SIGRTMIN).then_some(n)
        };
        if let Some(rest) = name.strip_prefix("RTMIN") {
            return offset(rest, '+').map(|n| Signal(SIGRTMIN + n));
        }
        if let Some(rest) = name.strip_prefix("RTMAX") {
            return offset(rest, '-').map(|n| Signal(SIGRTMAX - n));
        }
        None
    }

    /// Builds a signal from its number, if it is in `1..=64`.
    pub fn from_number(n: i32) -> Option<Signal> {
        (1..=SIGRTMAX).contains(&n).then_some(Signal(n))
    }

    /// The signal number.
    pub fn number(self) -> i32 {
        self.0
    }

    /// The name, e.g. `"SIGTERM"` or `"SIGRTMIN+2"`.
    pub fn name(self) -> String {
        match self.0 {
            n @ 1..=31 => format!("SIG{}", SIGNAL_NAMES[n as usize - 1]),
            n @ SIGRTMIN..=SIGRTMAX => format!("SIGRTMIN+{}", n - SIGRTMIN),
            n => n.to_string(),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Parses the systemd spelling (case-sensitive).
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The systemd spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// `Type=`: the service types herald supports.
    ServiceType {
        /// `simple`: started as soon as the main process is forked.
        Simple = "simple",
        /// `exec`: started once the main binary has been executed.
        Exec = "exec",
        /// `notify`: started when the service sends `READY=1`.
        Notify = "notify",
        /// `notify-reload`: like `notify`, and reloads with `SIGHUP` +
        /// `RELOADING=1`/`READY=1`.
        NotifyReload = "notify-reload",
        /// `oneshot`: started when the main process exits successfully.
        Oneshot = "oneshot",
    }
}

/// Service types systemd knows but herald does not implement.
pub(crate) const UNSUPPORTED_TYPES: [&str; 3] = ["forking", "dbus", "idle"];

string_enum! {
    /// `NotifyAccess=`: who may send sd_notify messages.
    NotifyAccess {
        /// No process.
        None = "none",
        /// Only the main process.
        Main = "main",
        /// The main process and the `Exec*=` control processes.
        Exec = "exec",
        /// Every process of the service.
        All = "all",
    }
}

string_enum! {
    /// `KillMode=`: which processes are killed on stop.
    KillMode {
        /// Every remaining process of the service.
        ControlGroup = "control-group",
        /// `KillSignal=` to the main process, `SIGKILL` to the rest.
        Mixed = "mixed",
        /// Only the main process.
        Process = "process",
        /// No process (deprecated in systemd).
        None = "none",
    }
}

string_enum! {
    /// `Restart=`: when the service is restarted automatically.
    Restart {
        /// Never.
        No = "no",
        /// After a clean exit.
        OnSuccess = "on-success",
        /// After an unclean exit, signal, timeout or watchdog.
        OnFailure = "on-failure",
        /// After a signal, timeout or watchdog.
        OnAbnormal = "on-abnormal",
        /// After a watchdog timeout.
        OnWatchdog = "on-watchdog",
        /// After an uncaught signal.
        OnAbort = "on-abort",
        /// Always.
        Always = "always",
    }
}

/// True if `name` is a valid environment variable name: non-empty, ASCII
/// letters, digits and `_`, not starting with a digit.
pub fn env_name_is_valid(name: &str) -> bool {
    !name.is_empty()
        && !name.as_bytes()[0].is_ascii_digit()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// True if `n` is a valid numeric UID/GID (not `65535` nor `4294967295`).
fn is_numeric_id(n: &str) -> bool {
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    match n.parse::<u32>() {
        Ok(id) => id != 65535 && id != u32::MAX,
        Err(_) => false,
    }
}

/// Checks a `User=`/`Group=` value with systemd's relaxed rules: a
/// numeric ID, or a name without control characters, `:` or `/`, not
/// purely numeric, not `.`/`..`, no longer than 255 bytes, without
/// leading or trailing spaces.
pub fn user_group_name_is_valid(s: &str) -> bool {
    if is_numeric_id(s) {
        return true;
    }
    if s.is_empty() || s.len() > 255 {
        return false;
    }
    if s.chars().any(|c| c.is_control() || c == ':' || c == '/') {
        return false;
    }
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if digits(s) || s.strip_prefix('-').is_some_and(digits) {
        return false;
    }
    if s == "." || s == ".." || s.starts_with(' ') || s.ends_with(' ') {
        return false;
    }
    true
}

/// True if `s` is a valid file name: non-empty, not `.`/`..`, no `/`,
/// at most 255 bytes.
pub(crate) fn filename_is_valid(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && s.len() <= 255
}

/// True if `s` is a plausible absolute path: starts with `/`, at most
/// 4095 bytes, every component at most 255 bytes.
pub(crate) fn path_is_valid_absolute(s: &str) -> bool {
    s.starts_with('/') && s.len() < 4096 && s.split('/').all(|c| c.len() <= 255)
}

/// Collapses repeated slashes and drops `.` components and a trailing
/// slash (systemd's `path_simplify()`; `..` is kept).
pub(crate) fn path_simplify(s: &str) -> String {
    let absolute = s.starts_with('/');
    let parts: Vec<&str> = s
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) if !s.is_empty() => ".".to_owned(),
        (false, _) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for s in ["1", "yes", "YES", "y", "Y", "true", "True", "t", "on", "ON"] {
            assert_eq!(parse_bool(s), Some(true), "{s}");
        }
        for s in ["0", "no", "No", "n", "false", "FALSE", "f", "off", "Off"] {
            assert_eq!(parse_bool(s), Some(false), "{s}");
        }
        for s in ["", "2", "yess", "enable", " yes", "o"] {
            assert_eq!(parse_bool(s), None, "{s}");
        }
    }

    #[test]
    fn timespans() {
        let us = |n: u64| Ok(Some(Duration::from_micros(n)));
        let s = |n: u64| Ok(Some(Duration::from_secs(n)));
        let table: &[(&str, Result<Option<Duration>, TimespanError>)] = &[
            ("5", s(5)),
            ("0", s(0)),
            ("5s", s(5)),
            ("5 s", s(5)),
            ("  5s  ", s(5)),
            ("5sec", s(5)),
            ("5seconds", s(5)),
            ("1min 30s", s(90)),
            ("1min30s", s(90)),
            ("1m30", s(90)),
            ("5 6", s(11)),
            ("2h", s(7200)),
            ("2hr", s(7200)),
            ("1d", s(86_400)),
            ("1w", s(604_800)),
            ("1M", s(2_629_800)),
            ("1y", s(31_557_600)),
            ("500ms", us(500_000)),
            ("500msec", us(500_000)),
            ("100us", us(100)),
            ("100\u{b5}s", us(100)),
            ("100\u{3bc}s", us(100)),
            ("1.5s", us(1_500_000)),
            ("1.5", us(1_500_000)),
            (".5s", us(500_000)),
            ("0.0000001s", us(0)),
            ("1.5min", s(90)),
            ("12.34s.56", us(12_340_000 + 560_000)),
            ("infinity", Ok(None)),
            ("  infinity  ", Ok(None)),
            ("", Err(TimespanError::Invalid)),
            ("   ", Err(TimespanError::Invalid)),
            ("s", Err(TimespanError::Invalid)),
            ("5x", Err(TimespanError::Invalid)),
            ("5 parsecs", Err(TimespanError::Invalid)),
            ("12.34.56", Err(TimespanError::Invalid)),
            ("3.", Err(TimespanError::Invalid)),
            ("3.s", Err(TimespanError::Invalid)),
            ("infinityx", Err(TimespanError::Invalid)),
            ("infinity 5", Err(TimespanError::Invalid)),
            ("-5", Err(TimespanError::OutOfRange)),
            ("-0", Err(TimespanError::OutOfRange)),
            ("99999999999999999999", Err(TimespanError::OutOfRange)),
            ("600000y", Err(TimespanError::OutOfRange)),
        ];
        for (input, want) in table {
            assert_eq!(&parse_timespan(input), want, "{input:?}");
        }
    }

    #[test]
    fn signals() {
        let table: &[(&str, Option<i32>)] = &[
            ("SIGTERM", Some(15)),
            ("TERM", Some(15)),
            ("15", Some(15)),
            ("SIGKILL", Some(9)),
            ("HUP", Some(1)),
            ("SIGUSR1", Some(10)),
            ("SIGSYS", Some(31)),
            ("SIGIOT", Some(6)),
            ("RTMIN", Some(34)),
            ("SIGRTMIN+2", Some(36)),
            ("RTMAX", Some(64)),
            ("RTMAX-1", Some(63)),
            ("64", Some(64)),
            ("RTMIN+31", None),
            ("RTMIN-1", None),
            ("0", None),
            ("65", None),
            ("sigterm", None),
            ("SIG", None),
            ("", None),
            ("FOO", None),
        ];
        for (input, want) in table {
            assert_eq!(Signal::parse(input).map(Signal::number), *want, "{input:?}");
        }
        assert_eq!(Signal::SIGTERM.name(), "SIGTERM");
        assert_eq!(Signal::parse("RTMIN+1").unwrap().to_string(), "SIGRTMIN+1");
    }

    #[test]
    fn enums_round_trip() {
        for s in ["simple", "exec", "notify", "notify-reload", "oneshot"] {
            assert_eq!(ServiceType::parse(s).unwrap().as_str(), s);
        }
        for s in ["none", "main", "exec", "all"] {
            assert_eq!(NotifyAccess::parse(s).unwrap().as_str(), s);
        }
        for s in ["control-group", "mixed", "process", "none"] {
            assert_eq!(KillMode::parse(s).unwrap().as_str(), s);
        }
        for s in [
            "no",
            "on-success",
            "on-failure",
            "on-abnormal",
            "on-watchdog",
            "on-abort",
            "always",
        ] {
            assert_eq!(Restart::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(ServiceType::parse("forking"), None);
        assert_eq!(Restart::parse("Always"), None);
    }

    #[test]
    fn names() {
        for ok in ["A", "_x", "FOO_BAR9"] {
            assert!(env_name_is_valid(ok), "{ok}");
        }
        for bad in ["", "9A", "A-B", "A B", "A=B", "é"] {
            assert!(!env_name_is_valid(bad), "{bad}");
        }
        for ok in ["root", "nobody", "0", "1000", "foo.bar", "Foo Bar", "a-b$"] {
            assert!(user_group_name_is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            "65535",
            "4294967295",
            "99999999999",
            "-1",
            "a:b",
            "a/b",
            ".",
            "..",
            " a",
            "a\n",
        ] {
            assert!(!user_group_name_is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn paths() {
        let table = [
            ("/usr//bin/./foo", "/usr/bin/foo"),
            ("/usr/bin/", "/usr/bin"),
            ("/", "/"),
            ("//", "/"),
            ("/a/../b", "/a/../b"),
            ("foo", "foo"),
            ("./foo", "foo"),
        ];
        for (input, want) in table {
            assert_eq!(path_simplify(input), want, "{input}");
        }
        assert!(filename_is_valid("foo"));
        assert!(!filename_is_valid("a/b"));
        assert!(!filename_is_valid(".."));
        assert!(path_is_valid_absolute("/bin/sh"));
        assert!(!path_is_valid_absolute("bin/sh"));
        assert!(!path_is_valid_absolute(&format!("/{}", "x".repeat(256))));
    }
}
