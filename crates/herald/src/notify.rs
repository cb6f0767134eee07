//! `herald notify`: a drop-in `systemd-notify`.
//!
//! Same options, same bytes on the wire, same exit codes and messages as systemd-notify
//! (the v257 interface; byte-identical to v252 for everything v252 supports). Invoked
//! through a link named `systemd-notify` it prints exactly what systemd-notify prints;
//! invoked as `herald notify` its errors also say what exactly was wrong.
//!
//! Exit codes: 0 on success; 1 on any error (bad option, no message, no
//! `$NOTIFY_SOCKET`, send or barrier failure). `--booted` exits 0 when booted with
//! systemd, 1 otherwise.

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;
use std::time::Duration;

use herald_notify::{Error as NotifyError, Field, Notifier, NotifyAddress};

use crate::getopt::{self, Arg, OptSpec};

/// How the tool was invoked, which decides how it names itself and how much it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persona {
    /// As `systemd-notify`: messages exactly as systemd-notify's.
    SystemdNotify,
    /// As `herald notify`: the same, with the cause spelled out where herald knows more.
    Herald,
}

const OPTIONS: &[OptSpec] = &[
    OptSpec::flag("help", Some('h')),
    OptSpec::flag("version", None),
    OptSpec::flag("ready", None),
    OptSpec::flag("reloading", None),
    OptSpec::flag("stopping", None),
    OptSpec::optional("pid"),
    OptSpec::required("status"),
    OptSpec::flag("booted", None),
    OptSpec::required("uid"),
    OptSpec::flag("no-block", None),
    OptSpec::flag("exec", None),
    OptSpec::required("fd"),
    OptSpec::required("fdname"),
];

/// The barrier's timeout, as systemd-notify's.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(5);

fn help(prog: &str) {
    print!(
        "{prog} [OPTIONS...] [VARIABLE=VALUE...]
{prog} [OPTIONS...] --exec [VARIABLE=VALUE...] ; CMDLINE...

Notify the init system about service status updates.

  -h --help            Show this help
     --version         Show package version
     --ready           Inform the service manager about service start-up/reload
                       completion
     --reloading       Inform the service manager about configuration reloading
     --stopping        Inform the service manager about service shutdown
     --pid[=PID]       Set main PID of daemon
     --uid=USER        Set user to send from
     --status=TEXT     Set status text
     --booted          Check if the system was booted up with systemd
     --no-block        Do not wait until operation finished
     --exec            Execute command line separated by ';' once done
     --fd=FD           Pass specified file descriptor with along with message
     --fdname=NAME     Name to assign to passed file descriptor(s)

See the herald-notify(1) page (docs/notify.md) for details.
"
    );
}

/// What the command line asks for.
#[derive(Debug, Default)]
struct Request {
    booted: bool,
    ready: bool,
    reloading: bool,
    stopping: bool,
    pid: Option<u32>,
    status: Option<OsString>,
    uid: Option<u32>,
    gid: Option<u32>,
    no_block: bool,
    exec: Vec<OsString>,
    fds: Vec<OwnedFd>,
    fdname: Option<String>,
    env: Vec<OsString>,
}

/// An error already worded for the user; `detail` is shown only as `herald notify`.
struct Failure {
    message: String,
    detail: Option<String>,
}

impl Failure {
    fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            detail: None,
        }
    }

    fn with_detail(message: impl Into<String>, detail: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            detail: Some(detail.into()),
        }
    }
}

/// `strerror()` text for an errno, as systemd's `%m` prints it.
fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    // std appends " (os error N)"; systemd prints the bare text.
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

fn parent_if_applicable() -> u32 {
    let own = std::process::id();
    let parent = std::os::unix::process::parent_id();
    // Sending from PID 1 or from the manager itself would only confuse the manager.
    let manager = std::env::var("MANAGERPID")
        .ok()
        .and_then(|v| v.parse::<u32>().ok());
    if parent <= 1 || Some(parent) == manager {
        own
    } else {
        parent
    }
}

/// Takes every inherited fd ≥ 3: what `--fd=` may refer to.
fn inherited_fds() -> Vec<RawFd> {
    let mut fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|&fd| fd >= 3)
                .collect()
        })
        .unwrap_or_default();
    // The directory stream's own fd was listed too and is closed by now.
    fds.retain(|&fd| rustix::io::fcntl_getfd(borrow(fd)).is_ok());
    fds.sort_unstable();
    fds
}

fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    crate::sys::borrow_fd(fd)
}

fn parse_argv(args: &[OsString], prog: &str) -> Result<Option<Request>, Failure> {
    let mut req = Request::default();
    let mut do_exec = false;
    let mut passed: Option<Vec<RawFd>> = None;
    let mut positional = Vec::new();
    let parsed = getopt::parse(prog, args, OPTIONS).map_err(|()| Failure::new(String::new()))?;
    for arg in parsed {
        match arg {
            Arg::Positional(v) => positional.push(v),
            Arg::Opt(name, value) => match name {
                "help" => {
                    help(prog);
                    return Ok(None);
                }
                "version" => {
                    println!(
                        "herald {} (systemd-notify compatible, v257 interface)",
                        env!("CARGO_PKG_VERSION")
                    );
                    return Ok(None);
                }
                "ready" => req.ready = true,
                "reloading" => req.reloading = true,
                "stopping" => req.stopping = true,
                "pid" => {
                    let v = value.unwrap_or_default();
                    let text = v.to_string_lossy();
                    req.pid = Some(match &*text {
                        "" | "auto" => parent_if_applicable(),
                        "parent" => std::os::unix::process::parent_id(),
                        "self" => std::process::id(),
                        n => match parse_pid(n) {
                            Ok(p) => p,
                            Err(errno) => {
                                return Err(Failure::new(format!(
                                    "Failed to refer to --pid='{text}': {}",
                                    strerror(errno)
                                )))
                            }
                        },
                    });
                }
                "status" => req.status = value,
                "booted" => req.booted = true,
                "uid" => {
                    let v = value.unwrap_or_default();
                    let text = v.to_string_lossy().into_owned();
                    match herald_manager::users::resolve_notify_user(&text) {
                        Some((uid, gid)) => {
                            req.uid = Some(uid);
                            req.gid = gid;
                        }
                        None => {
                            return Err(Failure::with_detail(
                                format!("Can't resolve user {text}: {}", strerror(libc_einval())),
                                "not a user name in /etc/passwd nor a numeric UID",
                            ))
                        }
                    }
                }
                "no-block" => req.no_block = true,
                "exec" => do_exec = true,
                "fd" => {
                    let v = value.unwrap_or_default();
                    let text = v.to_string_lossy();
                    let fdnr = match text.parse::<RawFd>() {
                        Ok(n) if n >= 0 && text.bytes().all(|b| b.is_ascii_digit()) => n,
                        _ => {
                            return Err(Failure::new(format!(
                                "Failed to parse file descriptor: {text}"
                            )))
                        }
                    };
                    let passed = passed.get_or_insert_with(inherited_fds);
                    let owned = if fdnr < 3 {
                        // stdin/stdout/stderr stay ours: send a copy.
                        match rustix::io::fcntl_dupfd_cloexec(borrow(fdnr), 3) {
                            Ok(fd) => fd,
                            Err(e) => {
                                return Err(Failure::new(format!(
                                    "Failed to duplicate file descriptor: {}",
                                    strerror(e.raw_os_error())
                                )))
                            }
                        }
                    } else if let Some(i) = passed.iter().position(|&f| f == fdnr) {
                        passed.remove(i);
                        // Taken once: it was removed from `passed` above.
                        crate::sys::own_inherited_fd(fdnr)
                    } else {
                        return Err(Failure::new(format!(
                            "Specified file descriptor '{fdnr}' not passed or specified more than once: {}",
                            strerror(libc_ebadf())
                        )));
                    };
                    req.fds.push(owned);
                }
                "fdname" => {
                    let v = value.unwrap_or_default();
                    let text = v.to_string_lossy().into_owned();
                    if !herald_proto::message::fdname_is_valid(&text) {
                        return Err(Failure::with_detail(
                            format!("File descriptor name invalid: {text}"),
                            "at most 255 printable ASCII characters, without ':'",
                        ));
                    }
                    req.fdname = Some(text);
                }
                other => unreachable!("option table has no --{other}"),
            },
        }
    }

    if req.fdname.is_some() && req.fds.is_empty() {
        return Err(Failure::new(
            "No file descriptors passed, but --fdname= set, refusing.",
        ));
    }
    let mut have_env = req.ready
        || req.stopping
        || req.reloading
        || req.status.is_some()
        || req.pid.is_some()
        || !req.fds.is_empty();
    if do_exec {
        let Some(sep) = positional.iter().position(|a| a == ";") else {
            return Err(Failure::new(
                "If --exec is used argument list must contain ';' separator, refusing.",
            ));
        };
        if sep + 1 == positional.len() {
            return Err(Failure::new(
                "Empty command line specified after ';' separator, refusing.",
            ));
        }
        req.exec = positional.split_off(sep + 1);
        positional.pop();
    }
    have_env = have_env || !positional.is_empty();
    if !have_env && !req.booted {
        if do_exec {
            return Err(Failure::new(
                "No notify message specified while --exec, refusing.",
            ));
        }
        help(prog);
        return Err(Failure::new(String::new()));
    }
    if have_env && req.booted {
        eprintln!("Notify message specified along with --booted, ignoring.");
    }
    req.env = positional;
    if let Some(rest) = passed.filter(|p| !p.is_empty()) {
        eprintln!(
            "Warning: {} more file descriptors passed than referenced with --fd=.",
            rest.len()
        );
    }
    Ok(Some(req))
}

/// `parse_pid()` + `pidref_set_pid()`: a number as `strtoul(…, 0)` reads it (leading
/// blanks, `0x` hex, `0` octal), positive and within `pid_t`.
fn parse_pid(text: &str) -> Result<u32, i32> {
    let t = text.trim_start_matches([' ', '\t', '\n']);
    let (digits, radix) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (h, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        (&t[1..], 8)
    } else {
        (t, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(libc_einval());
    }
    let n =
        u64::from_str_radix(digits, radix).map_err(|_| rustix::io::Errno::RANGE.raw_os_error())?;
    if n == 0 || n > i32::MAX as u64 {
        return Err(rustix::io::Errno::RANGE.raw_os_error());
    }
    // Like systemd-notify 252 (and unlike 257), a PID that names no live process is
    // still sent: the manager validates MAINPID= itself, and the bytes stay identical.
    Ok(n as u32)
}

fn libc_einval() -> i32 {
    rustix::io::Errno::INVAL.raw_os_error()
}

fn libc_ebadf() -> i32 {
    rustix::io::Errno::BADF.raw_os_error()
}

/// `strv_env_merge()`: each argument replaces, in place, the first entry that starts
/// with its key prefix (`KEY=`, or the whole argument when it has no `=`), else it is
/// appended. So `--ready READ` sends just `READ`, as systemd-notify does.
fn merge_assignments(ours: Vec<Vec<u8>>, args: &[OsString]) -> Vec<Vec<u8>> {
    let mut out = ours;
    for a in args {
        let a = a.as_bytes();
        let prefix = match a.iter().position(|&b| b == b'=') {
            Some(k) => &a[..=k],
            None => a,
        };
        match out.iter().position(|e| e.starts_with(prefix)) {
            Some(i) => out[i] = a.to_vec(),
            None => out.push(a.to_vec()),
        }
    }
    out
}

fn monotonic_usec() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

fn build_message(req: &Request) -> Vec<u8> {
    let mut ours: Vec<Vec<u8>> = Vec::new();
    if req.reloading {
        ours.push(b"RELOADING=1".to_vec());
        ours.push(format!("MONOTONIC_USEC={}", monotonic_usec()).into_bytes());
    }
    if req.ready {
        ours.push(b"READY=1".to_vec());
    }
    if req.stopping {
        ours.push(b"STOPPING=1".to_vec());
    }
    if let Some(status) = &req.status {
        let mut s = b"STATUS=".to_vec();
        s.extend_from_slice(status.as_bytes());
        ours.push(s);
    }
    if let Some(pid) = req.pid {
        ours.push(Field::MainPid(pid).to_bytes());
    }
    if !req.fds.is_empty() {
        ours.push(b"FDSTORE=1".to_vec());
        if let Some(name) = &req.fdname {
            ours.push(format!("FDNAME={name}").into_bytes());
        }
    }
    merge_assignments(ours, &req.env).join(&b'\n')
}

trait ToBytes {
    fn to_bytes(&self) -> Vec<u8>;
}

impl ToBytes for Field<'_> {
    fn to_bytes(&self) -> Vec<u8> {
        herald_proto::message::format(std::slice::from_ref(self)).expect("typed field formats")
    }
}

fn run(req: Request, persona: Persona) -> Result<(), Failure> {
    if req.booted {
        return if herald_notify::booted() {
            Ok(())
        } else {
            Err(Failure::new(String::new()))
        };
    }
    let message = build_message(&req);

    // Only the real IDs change: the effective UID (0) keeps the privilege to send the
    // credentials, and the client puts the real UID into them.
    if let Some(gid) = req.gid {
        if let Err(e) = crate::sys::set_real_gid(gid) {
            return Err(Failure::new(format!(
                "Failed to change GID: {}",
                strerror(e)
            )));
        }
    }
    if let Some(uid) = req.uid {
        if let Err(e) = crate::sys::set_real_uid(uid) {
            return Err(Failure::new(format!(
                "Failed to change UID: {}",
                strerror(e)
            )));
        }
    }
    let source_pid = req.pid.unwrap_or_else(parent_if_applicable);

    let not_set = || Failure::new("No status data could be sent: $NOTIFY_SOCKET was not set");
    let Some(value) = std::env::var_os(herald_notify::NOTIFY_SOCKET) else {
        return Err(not_set());
    };
    let notifier = match NotifyAddress::parse(&value) {
        Ok(a) => Notifier::new(a),
        Err(e) => {
            return Err(Failure::with_detail(
                format!("Failed to notify init system: {}", strerror(libc_einval())),
                e.to_string(),
            ))
        }
    };
    let fds: Vec<BorrowedFd<'_>> = req.fds.iter().map(|f| f.as_fd()).collect();
    if let Err(e) = notifier.send_raw(&message, &fds, Some(source_pid)) {
        return Err(match e {
            NotifyError::TooManyFds { .. } => Failure::new("Too many file descriptors passed."),
            e => Failure::with_detail(
                format!(
                    "Failed to notify init system: {}",
                    strerror(e.raw_os_error())
                ),
                e.to_string(),
            ),
        });
    }
    drop(fds);
    drop(req.fds);

    if !req.no_block {
        if let Err(e) = notifier.pid_notify_barrier(Some(source_pid), &[], BARRIER_TIMEOUT) {
            return Err(Failure::with_detail(
                format!("Failed to invoke barrier: {}", strerror(e.raw_os_error())),
                e.to_string(),
            ));
        }
    }

    if !req.exec.is_empty() {
        let err = std::process::Command::new(&req.exec[0])
            .args(&req.exec[1..])
            .exec();
        let cmdline = req
            .exec
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        return Err(Failure::new(format!(
            "Failed to execute command line: {cmdline}: {}",
            strerror(err.raw_os_error().unwrap_or(libc_einval()))
        )));
    }
    let _ = persona;
    Ok(())
}

/// Runs the tool on `args` (without the program name); `prog` is how it names itself.
pub fn main(prog: &str, args: &[OsString], persona: Persona) -> ExitCode {
    let result = parse_argv(args, prog).and_then(|req| match req {
        None => Ok(()),
        Some(req) => run(req, persona),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                match (persona, f.detail) {
                    (Persona::Herald, Some(d)) => eprintln!("{} ({d})", f.message),
                    _ => eprintln!("{}", f.message),
                }
            }
            ExitCode::FAILURE
        }
    }
}
