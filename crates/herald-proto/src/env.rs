//! The environment variables a manager hands its services, parsed without reading the
//! environment: `WATCHDOG_USEC`/`WATCHDOG_PID` and `LISTEN_PID`/`LISTEN_FDS`/`LISTEN_FDNAMES`.
//! The client library reads the variables and passes their values here.

use std::fmt;

/// Why an environment variable's value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError {
    /// The variable.
    pub name: &'static str,
    /// Its value.
    pub value: String,
    /// What was expected.
    pub expected: &'static str,
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}={:?}: expected {}",
            self.name, self.value, self.expected
        )
    }
}

impl std::error::Error for EnvError {}

fn number<T: std::str::FromStr>(
    name: &'static str,
    value: &str,
    expected: &'static str,
) -> Result<T, EnvError> {
    let err = || EnvError {
        name,
        value: value.to_owned(),
        expected,
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    value.parse().map_err(|_| err())
}

fn pid(name: &'static str, value: &str) -> Result<u32, EnvError> {
    match number::<u32>(name, value, "a process ID") {
        Ok(p) if p >= 1 && p <= i32::MAX as u32 => Ok(p),
        Ok(_) => Err(EnvError {
            name,
            value: value.to_owned(),
            expected: "a process ID",
        }),
        Err(e) => Err(e),
    }
}

/// `sd_watchdog_enabled()`'s decision: the watchdog interval in µs if the watchdog is
/// enabled for process `own_pid`, `None` if it is not enabled or meant for another process.
///
/// `usec` is `$WATCHDOG_USEC` and `watchdog_pid` is `$WATCHDOG_PID` (each `None` when unset).
/// A zero or malformed interval and a malformed PID are errors, as in libsystemd.
pub fn watchdog_usec(
    usec: Option<&str>,
    watchdog_pid: Option<&str>,
    own_pid: u32,
) -> Result<Option<u64>, EnvError> {
    let Some(usec) = usec else { return Ok(None) };
    let interval = number::<u64>("WATCHDOG_USEC", usec, "a positive number of microseconds")?;
    if interval == 0 {
        return Err(EnvError {
            name: "WATCHDOG_USEC",
            value: usec.to_owned(),
            expected: "a positive number of microseconds",
        });
    }
    if let Some(p) = watchdog_pid {
        if pid("WATCHDOG_PID", p)? != own_pid {
            return Ok(None);
        }
    }
    Ok(Some(interval))
}

/// `sd_listen_fds_with_names()`'s decision: how many fds (from fd 3 on) process
/// `own_pid` was passed, and their names.
///
/// With `$LISTEN_PID` unset or naming another process there are none. Without
/// `$LISTEN_FDNAMES` every fd is named `unknown`; with it, the colon-separated names
/// must be exactly as many as the fds.
pub fn listen_fds(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    listen_fdnames: Option<&str>,
    own_pid: u32,
) -> Result<Vec<String>, EnvError> {
    let Some(listen_pid) = listen_pid else {
        return Ok(Vec::new());
    };
    if pid("LISTEN_PID", listen_pid)? != own_pid {
        return Ok(Vec::new());
    }
    let Some(count) = listen_fds else {
        return Ok(Vec::new());
    };
    let n = number::<u32>("LISTEN_FDS", count, "a number of file descriptors")?;
    // fds 3..3+n must stay within the int range.
    if n > (i32::MAX - crate::limits::LISTEN_FDS_START) as u32 {
        return Err(EnvError {
            name: "LISTEN_FDS",
            value: count.to_owned(),
            expected: "a number of file descriptors",
        });
    }
    let n = n as usize;
    match listen_fdnames {
        None => Ok(vec!["unknown".to_owned(); n]),
        Some(names) => {
            let names: Vec<String> = if names.is_empty() {
                Vec::new()
            } else {
                names.split(':').map(str::to_owned).collect()
            };
            if names.len() != n {
                return Err(EnvError {
                    name: "LISTEN_FDNAMES",
                    value: listen_fdnames.unwrap_or_default().to_owned(),
                    expected: "one colon-separated name per passed file descriptor",
                });
            }
            Ok(names)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog() {
        assert_eq!(watchdog_usec(None, None, 10), Ok(None));
        assert_eq!(
            watchdog_usec(Some("30000000"), None, 10),
            Ok(Some(30_000_000))
        );
        assert_eq!(
            watchdog_usec(Some("30000000"), Some("10"), 10),
            Ok(Some(30_000_000))
        );
        assert_eq!(watchdog_usec(Some("30000000"), Some("11"), 10), Ok(None));
        // Beyond u32 microseconds (71 minutes).
        assert_eq!(
            watchdog_usec(Some("36000000000"), None, 10),
            Ok(Some(36_000_000_000))
        );
        for bad in ["0", "", "-1", "1s", "18446744073709551616"] {
            assert!(watchdog_usec(Some(bad), None, 10).is_err(), "{bad}");
        }
        assert!(watchdog_usec(Some("5"), Some("x"), 10).is_err());
        assert!(watchdog_usec(Some("5"), Some("0"), 10).is_err());
    }

    #[test]
    fn listen() {
        assert_eq!(listen_fds(None, Some("2"), None, 7), Ok(vec![]));
        assert_eq!(listen_fds(Some("8"), Some("2"), None, 7), Ok(vec![]));
        assert_eq!(listen_fds(Some("7"), None, None, 7), Ok(vec![]));
        assert_eq!(
            listen_fds(Some("7"), Some("2"), None, 7),
            Ok(vec!["unknown".to_owned(), "unknown".to_owned()])
        );
        assert_eq!(
            listen_fds(Some("7"), Some("2"), Some("http:https"), 7),
            Ok(vec!["http".to_owned(), "https".to_owned()])
        );
        assert_eq!(listen_fds(Some("7"), Some("0"), Some(""), 7), Ok(vec![]));
        assert!(listen_fds(Some("7"), Some("2"), Some("only-one"), 7).is_err());
        assert!(listen_fds(Some("7"), Some("x"), None, 7).is_err());
        assert!(listen_fds(Some("x"), Some("1"), None, 7).is_err());
        let e = listen_fds(Some("7"), Some("-1"), None, 7).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid LISTEN_FDS=\"-1\": expected a number of file descriptors"
        );
    }
}
