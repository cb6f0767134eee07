//! `herald ctl`: query and control a running manager (`herald up`), in systemctl's spirit.
//!
//! One invocation is one request: the command line is parsed (clap) into an [`Action`],
//! which becomes one [`Request`]; the request goes as one line of JSON over the
//! owner-only control socket (`RUNTIME_DIR/control`, AF_UNIX stream), and the manager's
//! one-line JSON [`Response`] comes back before it closes the connection. The answer is
//! then turned into text by the pure functions of [`format`] (no clock, no terminal, no
//! environment in there) and into an exit code by [`exit_code`].
//!
//! Job requests (`start`, `stop`, `restart`, `reload`) without `--no-block` wait for the
//! jobs to finish, which may take minutes, so they have no read timeout; every other
//! request must be answered within [`IO_TIMEOUT`].
//!
//! Exit codes: 0 success; 1 failure (cannot reach the manager, malformed answer, a job or
//! request failed, invalid unit name); 2 usage error; for `status` as systemctl: 3 when a
//! unit is not active, 4 when a unit is unknown. The page is `docs/ctl.md`.

mod format;
mod time;

use std::ffi::OsString;
use std::io::{self, IsTerminal, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use herald_manager::api::{JobKind, Request, Response, UnitStatus};
use herald_manager::paths;

use self::time::TimeZone;

/// How long the manager may take to answer anything but a waiting job.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer accepted (a `list` of thousands of units is a few MiB).
const MAX_RESPONSE: u64 = 64 << 20;

/// Query and control a running herald manager ('herald up').
#[derive(Debug, Parser)]
#[command(
    name = "herald ctl",
    version,
    about = "Query and control a running herald manager ('herald up').",
    after_help = "Unit names without a type suffix mean services: 'db' is 'db.service'.\n\
                  Exit codes: 0 success, 1 failure, 2 usage error; for 'status' also 3 when a unit \
                  is not active and 4 when a unit is unknown."
)]
struct Cli {
    /// The manager's runtime directory; its control socket is DIR/control.
    /// [default: $HERALD_RUNTIME_DIR, else /run/herald for root, else $XDG_RUNTIME_DIR/herald]
    #[arg(long, value_name = "DIR", global = true)]
    runtime_dir: Option<PathBuf>,

    /// Print the manager's answer (the protocol's Response) as pretty JSON instead of
    /// formatting it; exit codes stay the same.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every loaded unit: load and activation state, time to readiness, description.
    #[command(visible_alias = "list-units")]
    List,

    /// Show units' state, main process, notifications and processes
    /// (exit 0 if all are active, 3 if one is not, 4 if one is unknown).
    Status {
        /// The units to show.
        #[arg(required = true, value_name = "UNIT")]
        units: Vec<String>,
    },

    /// Start units (and what they require); wait until the jobs finish.
    Start(JobArgs),

    /// Stop units (and what requires them); wait until the jobs finish.
    Stop(JobArgs),

    /// Stop units, then start them; wait until the jobs finish.
    Restart(JobArgs),

    /// Reload units' configuration (ExecReload=, or SIGHUP for Type=notify-reload);
    /// wait until the jobs finish.
    Reload(JobArgs),

    /// Show the last lines units' processes wrote, and the manager's lines about them.
    Logs {
        /// The unit whose lines to show [default: every unit].
        #[arg(value_name = "UNIT")]
        unit: Option<String>,

        /// Show at most N lines.
        #[arg(short = 'n', long, value_name = "N", default_value_t = 50)]
        lines: usize,
    },

    /// Stop every unit and make the manager exit, as SIGTERM to 'herald up' does.
    Exit,
}

#[derive(Debug, Args)]
struct JobArgs {
    /// The units.
    #[arg(required = true, value_name = "UNIT")]
    units: Vec<String>,

    /// Return as soon as the jobs are queued instead of waiting for them to finish.
    #[arg(long)]
    no_block: bool,
}

/// What one invocation asks of the manager, unit names normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    List,
    Status(Vec<String>),
    Job {
        kind: JobKind,
        units: Vec<String>,
        no_block: bool,
    },
    Logs {
        unit: Option<String>,
        lines: usize,
    },
    Exit,
}

/// A parsed command line.
#[derive(Debug)]
struct Invocation {
    runtime_dir: Option<PathBuf>,
    json: bool,
    action: Action,
}

/// Why the command line was refused.
#[derive(Debug)]
enum ParseError {
    /// Usage error, `--help` or `--version`: clap prints it and knows the exit code.
    Clap(clap::Error),
    /// A unit name that can never name a unit.
    BadName(String),
}

/// `foo` → `foo.service`; `foo.target` stays; anything that is not a unit name is refused.
fn normalize(name: &str) -> Result<String, ParseError> {
    herald_unit::normalize_name(name)
        .map_err(|e| ParseError::BadName(format!("invalid unit name '{name}': {e}")))
}

fn normalize_all(names: &[String]) -> Result<Vec<String>, ParseError> {
    names.iter().map(|n| normalize(n)).collect()
}

impl Action {
    fn from_command(command: Command) -> Result<Action, ParseError> {
        let job = |kind, args: JobArgs| -> Result<Action, ParseError> {
            Ok(Action::Job {
                kind,
                units: normalize_all(&args.units)?,
                no_block: args.no_block,
            })
        };
        Ok(match command {
            Command::List => Action::List,
            Command::Status { units } => Action::Status(normalize_all(&units)?),
            Command::Start(args) => job(JobKind::Start, args)?,
            Command::Stop(args) => job(JobKind::Stop, args)?,
            Command::Restart(args) => job(JobKind::Restart, args)?,
            Command::Reload(args) => job(JobKind::Reload, args)?,
            Command::Logs { unit, lines } => Action::Logs {
                unit: unit.as_deref().map(normalize).transpose()?,
                lines,
            },
            Command::Exit => Action::Exit,
        })
    }

    /// The request that carries this action.
    pub(crate) fn request(&self) -> Request {
        match self {
            Action::List => Request::List,
            Action::Status(units) => Request::Status {
                units: units.clone(),
            },
            Action::Job {
                kind,
                units,
                no_block,
            } => Request::Job {
                kind: *kind,
                units: units.clone(),
                no_block: *no_block,
            },
            Action::Logs { unit, lines } => Request::Logs {
                unit: unit.clone(),
                lines: *lines,
            },
            Action::Exit => Request::Exit,
        }
    }

    /// How long to wait for the answer: forever for a job that waits for completion.
    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        match self {
            Action::Job {
                no_block: false, ..
            } => None,
            _ => Some(IO_TIMEOUT),
        }
    }
}

fn parse(args: &[OsString]) -> Result<Invocation, ParseError> {
    let argv = std::iter::once(OsString::from("herald ctl")).chain(args.iter().cloned());
    let cli = Cli::try_parse_from(argv).map_err(ParseError::Clap)?;
    Ok(Invocation {
        runtime_dir: cli.runtime_dir,
        json: cli.json,
        action: Action::from_command(cli.command)?,
    })
}

/// Why a request got no usable answer.
#[derive(Debug)]
pub(crate) enum CallError {
    /// `connect()` failed: no manager, or not ours.
    Connect(io::Error),
    /// Writing the request failed.
    Send(io::Error),
    /// Reading the answer failed.
    Receive(io::Error),
    /// No answer within the timeout.
    Timeout(Duration),
    /// The manager closed the connection without a word.
    Empty,
    /// The answer exceeds [`MAX_RESPONSE`].
    TooLarge,
    /// The answer is not a `Response`; the error, and the start of the answer.
    Malformed(serde_json::Error, String),
}

impl CallError {
    /// The message, naming the socket.
    pub(crate) fn describe(&self, socket: &Path) -> String {
        let at = socket.display();
        match self {
            CallError::Connect(e) => {
                format!(
                    "cannot reach the manager at {at}: {} (is 'herald up' running?)",
                    io_text(e)
                )
            }
            CallError::Send(e) => format!(
                "cannot send the request to the manager at {at}: {}",
                io_text(e)
            ),
            CallError::Receive(e) => {
                format!("lost the connection to the manager at {at}: {}", io_text(e))
            }
            CallError::Timeout(d) => {
                format!("the manager at {at} did not answer within {}s", d.as_secs())
            }
            CallError::Empty => {
                format!("the manager at {at} closed the connection without answering")
            }
            CallError::TooLarge => {
                format!(
                    "the answer of the manager at {at} is larger than {} MiB",
                    MAX_RESPONSE >> 20
                )
            }
            CallError::Malformed(e, start) => {
                format!(
                    "malformed response from the manager at {at}: {e} (response begins: {start:?})"
                )
            }
        }
    }
}

/// An I/O error's text without Rust's ` (os error N)` suffix.
fn io_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(errno) => format::strerror(errno),
        None => e.to_string(),
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Sends `request` on the control socket at `socket` and returns the answer, waiting at
/// most `read_timeout` for it (`None`: as long as it takes).
pub(crate) fn call(
    socket: &Path,
    request: &Request,
    read_timeout: Option<Duration>,
) -> Result<Response, CallError> {
    let mut stream = UnixStream::connect(socket).map_err(CallError::Connect)?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(CallError::Send)?;
    stream
        .set_read_timeout(read_timeout)
        .map_err(CallError::Receive)?;

    let mut line = serde_json::to_vec(request).map_err(|e| CallError::Send(io::Error::other(e)))?;
    line.push(b'\n');
    stream.write_all(&line).map_err(|e| {
        if is_timeout(&e) {
            CallError::Timeout(IO_TIMEOUT)
        } else {
            CallError::Send(e)
        }
    })?;

    let mut answer = Vec::new();
    (&mut stream)
        .take(MAX_RESPONSE + 1)
        .read_to_end(&mut answer)
        .map_err(|e| {
            if is_timeout(&e) {
                CallError::Timeout(read_timeout.unwrap_or(IO_TIMEOUT))
            } else {
                CallError::Receive(e)
            }
        })?;
    if answer.len() as u64 > MAX_RESPONSE {
        return Err(CallError::TooLarge);
    }
    parse_response(&answer)
}

/// The manager's answer: one line of JSON (surrounding whitespace allowed, nothing else).
pub(crate) fn parse_response(answer: &[u8]) -> Result<Response, CallError> {
    let text = answer.trim_ascii();
    if text.is_empty() {
        return Err(CallError::Empty);
    }
    serde_json::from_slice(text).map_err(|e| {
        let start = String::from_utf8_lossy(&text[..text.len().min(80)]).into_owned();
        CallError::Malformed(e, start)
    })
}

/// How the output is rendered: the moment, whether to color, the time zone.
pub(crate) struct View {
    pub now_usec: u64,
    pub color: bool,
    pub tz: TimeZone,
}

/// What to print and how to exit.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: u8,
}

/// For `status`: which units to show, which are unknown, and any other error.
#[derive(Debug)]
pub(crate) struct StatusReport<'a> {
    pub shown: Vec<&'a UnitStatus>,
    pub unknown: Vec<String>,
    pub error: Option<String>,
}

/// Sorts a `status` answer. A unit is unknown when the manager returns it as `not-found`
/// and inactive, when an `ok` answer leaves it out, or when a refusal names it.
pub(crate) fn status_report<'a>(requested: &[String], response: &'a Response) -> StatusReport<'a> {
    let mut shown = Vec::new();
    let mut unknown = Vec::new();
    for unit in &response.units {
        if unit.load_state == "not-found" && unit.active_state == "inactive" {
            unknown.push(unit.name.clone());
        } else {
            shown.push(unit);
        }
    }
    let missing: Vec<&String> = requested
        .iter()
        .filter(|r| !response.units.iter().any(|u| &u.name == *r))
        .collect();
    let mut error = None;
    if response.ok {
        unknown.extend(missing.into_iter().cloned());
    } else {
        let reason = response.error.as_deref().unwrap_or_default();
        let named = missing.iter().any(|m| reason.contains(m.as_str()));
        if named || !unknown.is_empty() {
            unknown.extend(missing.into_iter().cloned());
        } else {
            error = Some(if reason.is_empty() {
                "the manager refused the request".to_owned()
            } else {
                reason.to_owned()
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    unknown.retain(|u| seen.insert(u.clone()));
    StatusReport {
        shown,
        unknown,
        error,
    }
}

/// The exit code for an answer: for `status`, 4 if a unit is unknown, else 1 if the
/// request failed otherwise, else 3 if a unit is neither active nor reloading, else 0;
/// for everything else 0 if the manager said ok, else 1.
pub(crate) fn exit_code(action: &Action, response: &Response) -> u8 {
    match action {
        Action::Status(units) => {
            let report = status_report(units, response);
            if !report.unknown.is_empty() {
                4
            } else if report.error.is_some() {
                1
            } else if report
                .shown
                .iter()
                .any(|u| !matches!(u.active_state.as_str(), "active" | "reloading"))
            {
                3
            } else {
                0
            }
        }
        _ => u8::from(!response.ok),
    }
}

fn refusal(response: &Response) -> String {
    format!(
        "herald ctl: {}\n",
        response
            .error
            .as_deref()
            .unwrap_or("the manager refused the request")
    )
}

/// Everything `herald ctl` prints for `action` given the manager's `response`.
pub(crate) fn render(action: &Action, response: &Response, json: bool, view: &View) -> Output {
    let mut out = Output {
        code: exit_code(action, response),
        ..Output::default()
    };
    if json {
        // A Response always serializes; the fallback only keeps this total.
        out.stdout = serde_json::to_string_pretty(response).unwrap_or_default() + "\n";
        return out;
    }
    match action {
        Action::List if response.ok => {
            out.stdout = format::format_list(&response.units, view.color)
        }
        Action::Status(units) => {
            let report = status_report(units, response);
            out.stdout =
                format::format_statuses(&report.shown, view.now_usec, view.color, &view.tz);
            for unit in &report.unknown {
                out.stderr
                    .push_str(&format!("Unit {unit} could not be found.\n"));
            }
            if let Some(error) = report.error {
                out.stderr.push_str(&format!("herald ctl: {error}\n"));
            }
        }
        Action::Job { kind, units, .. } => {
            out.stderr = format::format_job_failures(&response.jobs);
            if !response.ok && out.stderr.is_empty() {
                out.stderr = format!(
                    "Failed to {} {}: {}\n",
                    kind.as_str(),
                    units.join(" "),
                    response
                        .error
                        .as_deref()
                        .unwrap_or("the manager refused the request")
                );
            }
        }
        Action::Logs { .. } if response.ok => {
            out.stdout = format::format_logs(&response.logs, &view.tz)
        }
        Action::List | Action::Logs { .. } | Action::Exit if !response.ok => {
            out.stderr = refusal(response)
        }
        Action::List | Action::Logs { .. } | Action::Exit => {}
    }
    out
}

/// Color only for a terminal, and not when `$NO_COLOR` is set or `$TERM` is `dumb`.
fn use_color() -> bool {
    io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

fn now_usec() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Writes the output; a closed stdout (`herald ctl list | head -1`) is not an error.
fn emit(out: Output) -> ExitCode {
    let mut code = out.code;
    if !out.stdout.is_empty() {
        let mut stdout = io::stdout().lock();
        if let Err(e) = stdout
            .write_all(out.stdout.as_bytes())
            .and_then(|()| stdout.flush())
        {
            if e.kind() != io::ErrorKind::BrokenPipe {
                eprintln!(
                    "herald ctl: cannot write to standard output: {}",
                    io_text(&e)
                );
                code = code.max(1);
            }
        }
    }
    if !out.stderr.is_empty() {
        let _ = io::stderr().write_all(out.stderr.as_bytes());
    }
    ExitCode::from(code)
}

/// `herald ctl ARGS`: `args` are the arguments after `ctl`.
pub fn main(args: &[OsString]) -> ExitCode {
    let invocation = match parse(args) {
        Ok(invocation) => invocation,
        Err(ParseError::Clap(e)) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
        Err(ParseError::BadName(message)) => {
            eprintln!("herald ctl: {message}");
            return ExitCode::from(1);
        }
    };
    let dir = invocation
        .runtime_dir
        .unwrap_or_else(paths::default_runtime_dir);
    let socket = paths::control_socket(&dir);
    let action = invocation.action;
    let response = match call(&socket, &action.request(), action.read_timeout()) {
        Ok(response) => response,
        Err(e) => {
            eprintln!("herald ctl: {}", e.describe(&socket));
            return ExitCode::from(1);
        }
    };
    let view = if invocation.json {
        View {
            now_usec: 0,
            color: false,
            tz: TimeZone::utc(),
        }
    } else {
        View {
            now_usec: now_usec(),
            color: use_color(),
            tz: TimeZone::local(),
        }
    };
    emit(render(&action, &response, invocation.json, &view))
}

#[cfg(test)]
mod tests {
    use super::time::{
        civil_from_days, days_from_civil, format_relative, format_span, format_timestamp,
        weekday_from_days,
    };
    use super::*;
    use herald_manager::api::{ExitInfo, JobOutcome, LogLine, ProcessInfo, RejectedNotification};

    const SEC: u64 = 1_000_000;

    /// µs since the epoch of a UTC date and time.
    fn usec(y: i64, mo: u32, d: u32, h: u64, mi: u64, s: u64) -> u64 {
        days_from_civil(y, mo, d) as u64 * 86_400 * SEC + (h * 3600 + mi * 60 + s) * SEC
    }

    /// 2026-12-04 16:30:06 UTC, a Friday.
    fn now() -> u64 {
        usec(2026, 12, 4, 16, 30, 6)
    }

    fn view(color: bool) -> View {
        View {
            now_usec: now(),
            color,
            tz: TimeZone::utc(),
        }
    }

    fn s(v: &str) -> String {
        v.to_owned()
    }

    fn db() -> UnitStatus {
        UnitStatus {
            name: s("db.service"),
            description: Some(s("Example database")),
            load_state: s("loaded"),
            source_paths: vec![
                s("/etc/herald/db.service"),
                s("/etc/herald/db.service.d/10-x.conf"),
            ],
            active_state: s("active"),
            sub_state: s("running"),
            result: s("success"),
            service_type: s("notify"),
            notify_access: s("main"),
            state_since_usec: Some(usec(2026, 12, 4, 16, 30, 1)),
            ready_after_usec: Some(1_020_000),
            main_pid: Some(1234),
            main_command: Some(s("/usr/bin/redis-server --port 7000")),
            status_text: Some(s("Ready to accept connections")),
            errno: Some(2),
            cgroup: Some(s("/herald-abc/db.service")),
            processes: vec![
                ProcessInfo {
                    pid: 1234,
                    command: s("/usr/bin/redis-server --port 7000"),
                },
                ProcessInfo {
                    pid: 1240,
                    command: s("sleep 100"),
                },
            ],
            notifications_accepted: 12,
            rejected: vec![RejectedNotification {
                at_usec: usec(2026, 12, 4, 16, 30, 2),
                pid: 1240,
                reason: s("sender is not the main process (NotifyAccess=main)"),
                message: s("READY=1\nSTATUS=from a child\\"),
            }],
            ..UnitStatus::default()
        }
    }

    fn api_failed() -> UnitStatus {
        UnitStatus {
            name: s("api.service"),
            description: Some(s("API server")),
            load_state: s("loaded"),
            source_paths: vec![s("/etc/herald/api.service")],
            active_state: s("failed"),
            sub_state: s("failed"),
            result: s("timeout"),
            failure: Some(s(
                "start operation timed out after 1min 30s without READY=1",
            )),
            service_type: s("notify"),
            notify_access: s("main"),
            state_since_usec: Some(usec(2026, 12, 4, 16, 28, 58)),
            main_pid: Some(4321),
            main_command: Some(s("/usr/bin/api --listen :8080")),
            main_exit: Some(ExitInfo {
                code: s("killed"),
                status: 15,
                signal: Some(s("TERM")),
            }),
            cgroup: Some(s("/herald-abc/api.service")),
            ..UnitStatus::default()
        }
    }

    fn cache() -> UnitStatus {
        UnitStatus {
            name: s("cache.service"),
            load_state: s("loaded"),
            active_state: s("active"),
            sub_state: s("exited"),
            result: s("success"),
            service_type: s("oneshot"),
            notify_access: s("none"),
            ready_after_usec: Some(350_400),
            ..UnitStatus::default()
        }
    }

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    // ---- command line ----

    #[test]
    fn parses_commands_and_normalizes_names() {
        let inv = parse(&args(&["status", "db", "web.service", "--json"])).unwrap();
        assert!(inv.json);
        assert_eq!(
            inv.action,
            Action::Status(vec![s("db.service"), s("web.service")])
        );

        let inv = parse(&args(&[
            "--runtime-dir",
            "/tmp/x",
            "start",
            "--no-block",
            "a",
            "b",
        ]))
        .unwrap();
        assert_eq!(inv.runtime_dir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(
            inv.action,
            Action::Job {
                kind: JobKind::Start,
                units: vec![s("a.service"), s("b.service")],
                no_block: true
            }
        );
        assert_eq!(inv.action.read_timeout(), Some(IO_TIMEOUT));
        let restart = parse(&args(&["restart", "a"])).unwrap().action;
        assert_eq!(restart.read_timeout(), None);

        assert_eq!(parse(&args(&["list-units"])).unwrap().action, Action::List);
        assert_eq!(
            parse(&args(&["list"])).unwrap().action.request(),
            Request::List
        );
        assert_eq!(
            parse(&args(&["logs", "-n", "5", "db"]))
                .unwrap()
                .action
                .request(),
            Request::Logs {
                unit: Some(s("db.service")),
                lines: 5
            }
        );
        assert_eq!(
            parse(&args(&["logs"])).unwrap().action.request(),
            Request::Logs {
                unit: None,
                lines: 50
            }
        );
        assert_eq!(
            parse(&args(&["exit"])).unwrap().action.request(),
            Request::Exit
        );
    }

    #[test]
    fn refuses_bad_command_lines() {
        for bad in [
            &[][..],
            &["status"][..],
            &["start"][..],
            &["frobnicate"][..],
            &["logs", "-n", "x"][..],
        ] {
            match parse(&args(bad)) {
                Err(ParseError::Clap(e)) => assert_eq!(e.exit_code(), 2, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        match parse(&args(&["--help"])) {
            Err(ParseError::Clap(e)) => assert_eq!(e.exit_code(), 0),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&args(&["status", "bad name"])),
            Err(ParseError::BadName(_))
        ));
    }

    // ---- list ----

    #[test]
    fn list_table() {
        let out = format::format_list(&[api_failed(), cache(), db()], false);
        let expected = "  UNIT          LOAD   ACTIVE SUB     READY DESCRIPTION
● api.service   loaded failed failed  -     API server
  cache.service loaded active exited  350ms
  db.service    loaded active running 1.02s Example database

LOAD   = Whether the unit file was found and parsed.
ACTIVE = The high-level activation state, a generalization of SUB.
SUB    = The low-level activation state.
READY  = Time from the start of the start job to readiness (READY=1 for Type=notify).
3 loaded units listed.
";
        assert_eq!(out, expected);
        assert_eq!(format::format_list(&[], false), "0 loaded units listed.\n");
    }

    #[test]
    fn list_table_colored() {
        let out = format::format_list(&[api_failed(), db()], true);
        let row = out.lines().nth(1).unwrap();
        assert_eq!(
            row,
            "\x1b[0;1;31m●\x1b[0m api.service loaded \x1b[0;1;31mfailed\x1b[0m \x1b[0;1;31mfailed\x1b[0m  -     API server"
        );
        assert!(out.starts_with("\x1b[0;4m  UNIT"));
    }

    // ---- status ----

    #[test]
    fn status_of_active_notify_unit() {
        let out = format::format_status(&db(), now(), false, &TimeZone::utc());
        let expected = r#"● db.service - Example database
     Loaded: loaded (/etc/herald/db.service; drop-in: /etc/herald/db.service.d/10-x.conf)
     Active: active (running) since Fri 2026-12-04 16:30:01 UTC; 5s ago
      Ready: 1.02s after start
   Main PID: 1234 (redis-server)
     Status: "Ready to accept connections"
      Error: 2 (No such file or directory)
     Notify: access=main, 12 accepted, 1 rejected
     CGroup: /herald-abc/db.service
             ├─1234 /usr/bin/redis-server --port 7000
             └─1240 sleep 100

Rejected notifications:
  16:30:02 pid 1240: sender is not the main process (NotifyAccess=main): READY=1\nSTATUS=from a child\\
"#;
        assert_eq!(out, expected);
    }

    #[test]
    fn status_of_failed_unit() {
        let out = format::format_status(&api_failed(), now(), false, &TimeZone::utc());
        let expected = "● api.service - API server
     Loaded: loaded (/etc/herald/api.service)
     Active: failed (Result: timeout) since Fri 2026-12-04 16:28:58 UTC; 1min 8s ago
    Failure: start operation timed out after 1min 30s without READY=1
   Main PID: 4321 (code=killed, signal=TERM)
     Notify: access=main, 0 accepted, 0 rejected
";
        assert_eq!(out, expected);

        let colored = format::format_status(&api_failed(), now(), true, &TimeZone::utc());
        assert!(colored.starts_with("\x1b[0;1;31m●\x1b[0m api.service - API server\n"));
        assert!(colored.contains("     Active: \x1b[0;1;31mfailed\x1b[0m (Result: timeout) since"));
        let green = format::format_status(&db(), now(), true, &TimeZone::utc());
        assert!(green.starts_with("\x1b[0;1;32m●\x1b[0m db.service"));
        assert!(green.contains("Active: \x1b[0;1;32mactive (running)\x1b[0m since"));
    }

    #[test]
    fn status_variants() {
        let tz = TimeZone::utc();
        let dead = UnitStatus {
            name: s("idle.service"),
            load_state: s("loaded"),
            active_state: s("inactive"),
            sub_state: s("dead"),
            result: s("success"),
            notify_access: s("none"),
            ..UnitStatus::default()
        };
        assert_eq!(
            format::format_status(&dead, now(), true, &tz),
            "● idle.service\n     Loaded: loaded\n     Active: inactive (dead)\n     Notify: access=none, 0 accepted, 0 rejected\n"
        );

        let mut exited = api_failed();
        exited.result = s("exit-code");
        exited.main_exit = Some(ExitInfo {
            code: s("exited"),
            status: 1,
            signal: None,
        });
        exited.failure = None;
        exited.control_pid = Some(77);
        exited.processes = vec![ProcessInfo {
            pid: 77,
            command: s("/bin/cleanup --all"),
        }];
        exited.cgroup = None;
        let out = format::format_status(&exited, now(), false, &tz);
        assert!(
            out.contains("     Active: failed (Result: exit-code) since"),
            "{out}"
        );
        assert!(out.contains(
            "   Main PID: 4321 (code=exited, status=1/FAILURE); Control PID: 77 (cleanup)\n"
        ));
        assert!(
            out.ends_with("  Processes:\n             └─77 /bin/cleanup --all\n"),
            "{out}"
        );

        let mut starting = db();
        starting.active_state = s("activating");
        starting.sub_state = s("start");
        starting.rejected.clear();
        starting.errno = None;
        assert!(
            format::format_status(&starting, now(), false, &tz).contains(
                "     Active: activating (start) since Fri 2026-12-04 16:30:01 UTC; 5s ago\n"
            )
        );

        let broken = UnitStatus {
            name: s("bad.service"),
            load_state: s("error"),
            load_error: Some(s("Unit bad.service has a bad unit file setting.")),
            source_paths: vec![s("/etc/herald/bad.service")],
            active_state: s("inactive"),
            sub_state: s("dead"),
            notify_access: s("none"),
            ..UnitStatus::default()
        };
        assert!(format::format_status(&broken, now(), false, &tz).contains(
            "     Loaded: error (/etc/herald/bad.service; Reason: Unit bad.service has a bad unit file setting.)\n"
        ));

        // The process's name now (a script that exec'd), not the command that started it.
        let mut execd = db();
        execd.main_command = Some(s("/srv/db/db.sh --fast"));
        execd.processes[0].command = s("sleep infinity");
        assert!(format::format_status(&execd, now(), false, &tz)
            .contains("\n   Main PID: 1234 (sleep)\n"));
        execd.processes.clear();
        assert!(format::format_status(&execd, now(), false, &tz)
            .contains("\n   Main PID: 1234 (db.sh)\n"));

        // The manager forgets the main PID once the process is gone; its exit remains.
        let mut gone = api_failed();
        gone.main_pid = None;
        gone.main_command = None;
        assert!(format::format_status(&gone, now(), false, &tz)
            .contains("\n   Main PID: (code=killed, signal=TERM)\n"));

        let dumped = ExitInfo {
            code: s("dumped"),
            status: 11,
            signal: None,
        };
        assert_eq!(format::describe_exit(&dumped), "code=dumped, signal=SEGV");
        let exec = ExitInfo {
            code: s("exited"),
            status: 203,
            signal: None,
        };
        assert_eq!(format::describe_exit(&exec), "code=exited, status=203/EXEC");
        let odd = ExitInfo {
            code: s("exited"),
            status: 42,
            signal: None,
        };
        assert_eq!(format::describe_exit(&odd), "code=exited, status=42");
    }

    #[test]
    fn hostile_text_is_escaped() {
        let mut unit = db();
        unit.status_text = Some(s("\x1b[2Jcleared"));
        unit.rejected[0].message = s("A=1\r\n\tB=\u{7}");
        let out = format::format_status(&unit, now(), false, &TimeZone::utc());
        assert!(out.contains("     Status: \"\\x1b[2Jcleared\"\n"));
        assert!(out.contains(": A=1\\r\\n\\tB=\\x07\n"));
    }

    #[test]
    fn statuses_are_separated_by_a_blank_line() {
        let (a, b) = (db(), api_failed());
        let out = format::format_statuses(&[&a, &b], now(), false, &TimeZone::utc());
        assert!(out.contains("16:30:02 pid 1240: sender is not the main process (NotifyAccess=main): READY=1\\nSTATUS=from a child\\\\\n\n● api.service"));
    }

    // ---- time ----

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(19_783), (2024, 3, 1));
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29)); // 400-year leap
        assert_eq!(
            days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28),
            1
        ); // not leap
        assert_eq!(
            days_from_civil(2100, 3, 1) - days_from_civil(2100, 2, 28),
            1
        );
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(weekday_from_days(0), 4); // Thursday
        assert_eq!(weekday_from_days(days_from_civil(2026, 12, 4)), 5); // Friday
        let tz = TimeZone::utc();
        assert_eq!(
            format_timestamp(usec(2024, 2, 29, 23, 59, 59), &tz),
            "Thu 2024-02-29 23:59:59 UTC"
        );
        assert_eq!(format_timestamp(0, &tz), "Thu 1970-01-01 00:00:00 UTC");
        let berlin = TimeZone::from_posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(
            format_timestamp(usec(2026, 7, 1, 22, 30, 0), &berlin),
            "Thu 2026-07-02 00:30:00 CEST"
        );
        assert_eq!(
            time::format_short(usec(2026, 12, 4, 16, 30, 1), &tz),
            "Dec 04 16:30:01"
        );
    }

    #[test]
    fn relative_times_and_spans() {
        let t = now();
        assert_eq!(format_relative(t, t), "now");
        assert_eq!(format_relative(t, t - 350_000), "350ms ago");
        assert_eq!(format_relative(t, t - 5 * SEC), "5s ago");
        assert_eq!(format_relative(t, t - 123 * SEC), "2min 3s ago");
        assert_eq!(format_relative(t, t - 12 * 60 * SEC), "12min ago");
        assert_eq!(format_relative(t, t - 3720 * SEC), "1h 2min ago");
        assert_eq!(format_relative(t, t - 7 * 3600 * SEC), "7h ago");
        assert_eq!(format_relative(t, t - 27 * 3600 * SEC), "1 day 3h ago");
        assert_eq!(format_relative(t, t - 3 * 86_400 * SEC), "3 days ago");
        assert_eq!(
            format_relative(t, t - 15 * 86_400 * SEC),
            "2 weeks 1 day ago"
        );
        assert_eq!(
            format_relative(t, t - 35 * 86_400 * SEC),
            "1 month 4 days ago"
        );
        assert_eq!(
            format_relative(t, t - 800 * 86_400 * SEC),
            "2 years 2 months ago"
        );
        assert_eq!(format_relative(t, t + 5 * SEC), "5s left");
        assert_eq!(format_span(850), "850us");
        assert_eq!(format_span(350_400), "350ms");
        assert_eq!(format_span(1_020_000), "1.02s");
        assert_eq!(format_span(1_500_000), "1.5s");
        assert_eq!(format_span(2_000_000), "2s");
        assert_eq!(format_span(63 * SEC), "1min 3s");
        assert_eq!(format_span(7500 * SEC), "2h 5min");
    }

    // ---- exit codes and other commands ----

    fn status_response(units: Vec<UnitStatus>) -> Response {
        Response {
            ok: true,
            units,
            ..Response::default()
        }
    }

    #[test]
    fn exit_codes() {
        let status = |names: &[&str]| Action::Status(names.iter().map(|n| s(n)).collect());
        assert_eq!(
            exit_code(&status(&["db.service"]), &status_response(vec![db()])),
            0
        );
        let mut reloading = db();
        reloading.active_state = s("reloading");
        assert_eq!(
            exit_code(&status(&["db.service"]), &status_response(vec![reloading])),
            0
        );
        let both = status(&["db.service", "api.service"]);
        assert_eq!(
            exit_code(&both, &status_response(vec![db(), api_failed()])),
            3
        );
        // Unknown beats inactive, whether left out, returned as not-found, or refused by name.
        assert_eq!(exit_code(&both, &status_response(vec![api_failed()])), 4);
        let not_found = UnitStatus {
            name: s("db.service"),
            load_state: s("not-found"),
            active_state: s("inactive"),
            sub_state: s("dead"),
            ..UnitStatus::default()
        };
        assert_eq!(
            exit_code(&both, &status_response(vec![not_found, api_failed()])),
            4
        );
        let refused = Response::error("Unit db.service not found.");
        assert_eq!(exit_code(&both, &refused), 4);
        assert_eq!(exit_code(&both, &Response::error("bad request")), 1);

        let job = Action::Job {
            kind: JobKind::Start,
            units: vec![s("api.service")],
            no_block: false,
        };
        assert_eq!(
            exit_code(
                &job,
                &Response {
                    ok: true,
                    ..Response::default()
                }
            ),
            0
        );
        assert_eq!(exit_code(&job, &Response::error("1 job failed")), 1);
        assert_eq!(
            exit_code(&Action::List, &status_response(vec![api_failed()])),
            0
        );
        assert_eq!(exit_code(&Action::Exit, &Response::error("no")), 1);
    }

    #[test]
    fn status_render_reports_unknown_units() {
        let action = Action::Status(vec![s("db.service"), s("nope.service")]);
        let out = render(
            &action,
            &Response {
                error: Some(s("Unit nope.service not found.")),
                ..status_response(vec![db()])
            },
            false,
            &view(false),
        );
        assert_eq!(out.code, 4);
        assert!(out.stdout.starts_with("● db.service - Example database\n"));
        assert_eq!(out.stderr, "Unit nope.service could not be found.\n");
    }

    #[test]
    fn job_failures() {
        let action = Action::Job {
            kind: JobKind::Start,
            units: vec![s("db.service"), s("api.service")],
            no_block: false,
        };
        let response = Response {
            ok: false,
            error: Some(s("1 job failed")),
            jobs: vec![
                JobOutcome {
                    unit: s("db.service"),
                    kind: JobKind::Start,
                    result: s("done"),
                    reason: None,
                },
                JobOutcome {
                    unit: s("api.service"),
                    kind: JobKind::Start,
                    result: s("failed"),
                    reason: Some(s("the main process exited with status 1.")),
                },
                JobOutcome {
                    unit: s("web.service"),
                    kind: JobKind::Start,
                    result: s("dependency"),
                    reason: None,
                },
                JobOutcome {
                    unit: s("cache.service"),
                    kind: JobKind::Start,
                    result: s("canceled"),
                    reason: Some(s("replaced by a stop job")),
                },
            ],
            ..Response::default()
        };
        let out = render(&action, &response, false, &view(false));
        assert_eq!(out.code, 1);
        assert_eq!(out.stdout, "");
        assert_eq!(
            out.stderr,
            "Job for api.service failed because the main process exited with status 1. \
             See \"herald ctl status api.service\" for details.\n\
             A dependency job for web.service failed. See \"herald ctl status web.service\" for details.\n\
             Job for cache.service was canceled (replaced by a stop job). \
             See \"herald ctl status cache.service\" for details.\n"
        );
        let refused = render(
            &action,
            &Response::error("Unit api.service not found."),
            false,
            &view(false),
        );
        assert_eq!(
            refused.stderr,
            "Failed to start db.service api.service: Unit api.service not found.\n"
        );
        let fine = render(
            &action,
            &Response {
                ok: true,
                ..Response::default()
            },
            false,
            &view(false),
        );
        assert_eq!(fine, Output::default());
    }

    #[test]
    fn logs() {
        let lines = vec![
            LogLine {
                at_usec: usec(2026, 12, 4, 16, 30, 1),
                unit: s("db.service"),
                pid: 0,
                stream: s("herald"),
                text: s("Starting Example database..."),
            },
            LogLine {
                at_usec: usec(2026, 12, 4, 16, 30, 1),
                unit: s("db.service"),
                pid: 1234,
                stream: s("output"),
                text: s("ready\x1b[0m"),
            },
            LogLine {
                at_usec: usec(2026, 12, 4, 16, 30, 2),
                unit: s("db.service"),
                pid: 1240,
                stream: s("stderr"),
                text: s("warn\tx"),
            },
        ];
        let response = Response {
            ok: true,
            logs: lines,
            ..Response::default()
        };
        let out = render(
            &Action::Logs {
                unit: None,
                lines: 50,
            },
            &response,
            false,
            &view(false),
        );
        assert_eq!(
            out.stdout,
            "Dec 04 16:30:01 db.service[herald]: Starting Example database...\n\
             Dec 04 16:30:01 db.service[1234]: ready\\x1b[0m\n\
             Dec 04 16:30:02 db.service[1240]: warn\tx\n"
        );
        assert_eq!(out.code, 0);
        let empty = render(
            &Action::Logs {
                unit: None,
                lines: 5,
            },
            &Response {
                ok: true,
                ..Response::default()
            },
            false,
            &view(false),
        );
        assert_eq!(empty.stdout, "-- No entries --\n");
        let refused = render(
            &Action::Logs {
                unit: Some(s("x.service")),
                lines: 5,
            },
            &Response::error("Unit x.service not found."),
            false,
            &view(false),
        );
        assert_eq!(
            (refused.code, refused.stderr.as_str()),
            (1, "herald ctl: Unit x.service not found.\n")
        );
    }

    #[test]
    fn json_mode_round_trips() {
        let mut unit = db();
        unit.main_exit = Some(ExitInfo {
            code: s("killed"),
            status: 15,
            signal: Some(s("TERM")),
        });
        let response = Response {
            ok: false,
            error: Some(s("Unit nope.service not found.")),
            units: vec![unit, api_failed()],
            ..Response::default()
        };
        let action = Action::Status(vec![s("db.service"), s("api.service"), s("nope.service")]);
        let out = render(&action, &response, true, &view(true));
        assert_eq!(out.code, 4);
        assert_eq!(out.stderr, "");
        assert!(out.stdout.starts_with("{\n  \"ok\": false,"));
        let back: Response = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(back, response);
        let list = render(
            &Action::List,
            &status_response(vec![cache()]),
            true,
            &view(false),
        );
        assert_eq!(
            serde_json::from_str::<Response>(&list.stdout).unwrap(),
            status_response(vec![cache()])
        );
    }

    // ---- transport ----

    /// A one-shot manager: accepts one connection, checks the request line, answers.
    fn fake_manager(
        dir: &Path,
        expect: Request,
        answer: &'static [u8],
    ) -> std::thread::JoinHandle<()> {
        let listener = std::os::unix::net::UnixListener::bind(paths::control_socket(dir)).unwrap();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while conn.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
                line.push(byte[0]);
            }
            assert_eq!(serde_json::from_slice::<Request>(&line).unwrap(), expect);
            conn.write_all(answer).unwrap();
        })
    }

    #[test]
    fn request_and_answer_over_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let request = Request::Job {
            kind: JobKind::Restart,
            units: vec![s("db.service")],
            no_block: false,
        };
        let server = fake_manager(dir.path(), request.clone(), b"{\"ok\":true,\"jobs\":[{\"unit\":\"db.service\",\"kind\":\"restart\",\"result\":\"done\"}]}\n");
        let response = call(&paths::control_socket(dir.path()), &request, None).unwrap();
        server.join().unwrap();
        assert!(response.ok);
        assert_eq!(response.jobs[0].result, "done");
    }

    #[test]
    fn transport_errors() {
        let dir = tempfile::tempdir().unwrap();
        let socket = paths::control_socket(dir.path());
        let err = call(&socket, &Request::List, Some(IO_TIMEOUT)).unwrap_err();
        assert!(matches!(err, CallError::Connect(_)));
        assert_eq!(
            err.describe(&socket),
            format!(
                "cannot reach the manager at {}: No such file or directory (is 'herald up' running?)",
                socket.display()
            )
        );

        let server = fake_manager(dir.path(), Request::List, b"this is not json\n");
        let err = call(&socket, &Request::List, Some(IO_TIMEOUT)).unwrap_err();
        server.join().unwrap();
        assert!(matches!(err, CallError::Malformed(..)), "{err:?}");
        assert!(err
            .describe(&socket)
            .starts_with("malformed response from the manager at "));

        std::fs::remove_file(&socket).unwrap();
        let server = fake_manager(dir.path(), Request::Exit, b"");
        let err = call(&socket, &Request::Exit, Some(IO_TIMEOUT)).unwrap_err();
        server.join().unwrap();
        assert!(matches!(err, CallError::Empty), "{err:?}");

        assert!(matches!(
            parse_response(b"{\"ok\":true}\n{\"ok\":true}\n"),
            Err(CallError::Malformed(..))
        ));
        assert_eq!(
            parse_response(b"  {\"ok\":true}\n").unwrap(),
            Response {
                ok: true,
                ..Response::default()
            }
        );
    }
}
