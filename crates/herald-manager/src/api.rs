//! The control protocol between `herald up` and `herald ctl`: one JSON request per
//! connection on the owner-only control socket, answered by one JSON response, each on
//! one line. The daemon and the client share these types, so they cannot drift.
//!
//! The records here are the same ones the event loop keeps (s6's "no hidden state"):
//! `ctl status` shows exactly what the manager acts on.

use serde::{Deserialize, Serialize};

/// A request to the manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    /// Every loaded unit, in name order.
    List,
    /// Units by name (`foo` means `foo.service`).
    Status {
        /// The units.
        units: Vec<String>,
    },
    /// Start, stop, restart or reload units.
    Job {
        /// What to do.
        kind: JobKind,
        /// The units.
        units: Vec<String>,
        /// Answer once the jobs are queued instead of when they finish.
        no_block: bool,
    },
    /// The last lines a unit's processes wrote (or all units' when `unit` is `None`).
    Logs {
        /// The unit, or every unit.
        unit: Option<String>,
        /// How many lines at most.
        lines: usize,
    },
    /// Stop every unit and exit, as SIGTERM does.
    Exit,
}

/// A job on a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// Start the unit (and what it requires).
    Start,
    /// Stop the unit (and what requires it).
    Stop,
    /// Stop, then start.
    Restart,
    /// Reload its configuration (ExecReload=, or SIGHUP for Type=notify-reload).
    Reload,
}

impl JobKind {
    /// The verb as the command line spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Start => "start",
            JobKind::Stop => "stop",
            JobKind::Restart => "restart",
            JobKind::Reload => "reload",
        }
    }
}

/// The manager's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request succeeded (for jobs: whether every job succeeded).
    pub ok: bool,
    /// Why not, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unit records (list, status).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<UnitStatus>,
    /// Log lines (logs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogLine>,
    /// One line per job: `start db.service: done`, `start api.service: failed (…)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobOutcome>,
}

impl Response {
    /// A failure with a reason.
    pub fn error(reason: impl Into<String>) -> Response {
        Response {
            ok: false,
            error: Some(reason.into()),
            ..Response::default()
        }
    }
}

/// How one job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    /// The unit.
    pub unit: String,
    /// The job.
    pub kind: JobKind,
    /// `done`, `failed`, `queued` (no-block), `canceled`, `dependency`, `timeout`.
    pub result: String,
    /// Why, when it did not succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One unit's state, as `ctl status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitStatus {
    /// `name.service`.
    pub name: String,
    /// `Description=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `loaded`, `error` (the file did not parse) or `not-found`.
    pub load_state: String,
    /// Why the unit did not load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_error: Option<String>,
    /// The unit file, and its drop-ins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_paths: Vec<String>,
    /// `active`, `reloading`, `inactive`, `failed`, `activating`, `deactivating`.
    pub active_state: String,
    /// The finer state: `running`, `exited`, `start-pre`, `start`, `start-post`,
    /// `reload`, `stop`, `stop-sigterm`, `stop-sigkill`, `stop-post`, `dead`, `failed`,
    /// `auto-restart`.
    pub sub_state: String,
    /// How the last run ended: `success`, `exit-code`, `signal`, `core-dump`,
    /// `timeout`, `protocol`, `resources`, `dependency`, `watchdog`.
    pub result: String,
    /// A sentence saying why the unit failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// `Type=`.
    pub service_type: String,
    /// The effective `NotifyAccess=` (after systemd's defaulting and `NOTIFYACCESS=`).
    pub notify_access: String,
    /// Wall-clock time the unit entered its current active state, in µs since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_since_usec: Option<u64>,
    /// From the start of the start job to readiness (READY=1 for Type=notify), in µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_after_usec: Option<u64>,
    /// The main process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_pid: Option<u32>,
    /// The command line of the main process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_command: Option<String>,
    /// The running control process (ExecStartPre=, ExecStop=, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_pid: Option<u32>,
    /// How the main process last exited: `exited`, `killed`, `dumped`, with its status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_exit: Option<ExitInfo>,
    /// The last `STATUS=` text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    /// The last `ERRNO=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<u32>,
    /// The service's cgroup, relative to the cgroup2 mount, or `None` without cgroups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// Processes now in its cgroup (or known to the manager, without cgroups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<ProcessInfo>,
    /// Notifications received from this unit's processes.
    pub notifications_accepted: u64,
    /// Notifications refused or dropped, in all (the last few are in `rejected`).
    #[serde(default)]
    pub notifications_refused: u64,
    /// The names of the fds in the unit's fd store (`FDSTORE=1`), one per fd.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fd_store: Vec<String>,
    /// The most recent rejected notifications, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RejectedNotification>,
    /// Units this one requires, wants, binds to, and is ordered after/before.
    #[serde(default, skip_serializing_if = "Dependencies::is_empty")]
    pub dependencies: Dependencies,
}

/// A unit's dependencies as loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependencies {
    /// `Requires=`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// `Wants=`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wants: Vec<String>,
    /// `BindsTo=`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binds_to: Vec<String>,
    /// `After=`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// `Before=`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
}

impl Dependencies {
    /// No dependency at all.
    pub fn is_empty(&self) -> bool {
        self.requires.is_empty()
            && self.wants.is_empty()
            && self.binds_to.is_empty()
            && self.after.is_empty()
            && self.before.is_empty()
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// `exited`, `killed` or `dumped`.
    pub code: String,
    /// The exit status, or the signal number.
    pub status: i32,
    /// The signal's name (`TERM`), when killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}

/// A process of a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Its PID.
    pub pid: u32,
    /// Its command line.
    pub command: String,
}

/// A notification the manager refused, kept so `ctl status` can show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedNotification {
    /// When, in µs since the epoch.
    pub at_usec: u64,
    /// The sender's PID, from its credentials.
    pub pid: u32,
    /// Why it was refused.
    pub reason: String,
    /// The message (at most 256 bytes of it, lossily decoded).
    pub message: String,
}

/// A line a unit's process wrote to stdout or stderr, or a line the manager logged
/// about the unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When, in µs since the epoch.
    pub at_usec: u64,
    /// The unit.
    pub unit: String,
    /// The writer's PID (0 for the manager's own lines).
    pub pid: u32,
    /// `stdout`, `stderr` or `herald`.
    pub stream: String,
    /// The text, without its newline.
    pub text: String,
}
