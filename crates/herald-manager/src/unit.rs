//! A unit's run-time record: its state, processes, notification history and output.
//! The event loop changes it; `ctl status` reads it through [`Unit::status`].

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant, SystemTime};

use herald_proto::NotifyAccess;
use std::path::PathBuf;
use std::sync::Arc;

use herald_unit::{ServiceType, UnitConfig};

use crate::api::{self, ExitInfo, LogLine, RejectedNotification};
use crate::cgroup::ServiceCgroup;

/// Index of a unit in the manager's table.
pub type UnitId = usize;

/// How many rejected notifications a unit keeps.
pub const REJECTED_KEPT: usize = 16;
/// How many output lines a unit keeps for `ctl logs`.
pub const LOG_LINES_KEPT: usize = 100;

/// The fine-grained state of a service (systemd's sub-state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubState {
    /// Not running.
    Dead,
    /// Running `ExecStartPre=`.
    StartPre,
    /// The main process runs; waiting for readiness.
    Start,
    /// Running `ExecStartPost=`.
    StartPost,
    /// Started, main process running.
    Running,
    /// Started, no main process (oneshot or `RemainAfterExit=yes`).
    Exited,
    /// Reloading (after `RELOADING=1`, until `READY=1`; or running `ExecReload=`).
    Reload,
    /// Running `ExecStop=`, or the service announced `STOPPING=1`.
    Stop,
    /// `KillSignal=` sent; waiting for the processes to go.
    StopSigterm,
    /// `SIGKILL` sent; waiting for the processes to go.
    StopSigkill,
    /// Running `ExecStopPost=`.
    StopPost,
    /// Stopped after a failure.
    Failed,
    /// Waiting `RestartSec=` before an automatic restart.
    AutoRestart,
}

impl SubState {
    /// systemd's spelling of the sub-state.
    pub fn as_str(self) -> &'static str {
        match self {
            SubState::Dead => "dead",
            SubState::StartPre => "start-pre",
            SubState::Start => "start",
            SubState::StartPost => "start-post",
            SubState::Running => "running",
            SubState::Exited => "exited",
            SubState::Reload => "reload",
            SubState::Stop => "stop",
            SubState::StopSigterm => "stop-sigterm",
            SubState::StopSigkill => "stop-sigkill",
            SubState::StopPost => "stop-post",
            SubState::Failed => "failed",
            SubState::AutoRestart => "auto-restart",
        }
    }

    /// The coarse active state systemd derives from it.
    pub fn active_state(self) -> &'static str {
        match self {
            SubState::Dead => "inactive",
            SubState::StartPre | SubState::Start | SubState::StartPost | SubState::AutoRestart => {
                "activating"
            }
            SubState::Running | SubState::Exited => "active",
            SubState::Reload => "reloading",
            SubState::Stop | SubState::StopSigterm | SubState::StopSigkill | SubState::StopPost => {
                "deactivating"
            }
            SubState::Failed => "failed",
        }
    }

    /// Started and not on its way down.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            SubState::Running | SubState::Exited | SubState::Reload
        )
    }

    /// Neither running nor on the way up or down.
    pub fn is_inactive(self) -> bool {
        matches!(self, SubState::Dead | SubState::Failed)
    }

    /// On the way up.
    pub fn is_starting(self) -> bool {
        matches!(
            self,
            SubState::StartPre | SubState::Start | SubState::StartPost
        )
    }

    /// On the way down.
    pub fn is_stopping(self) -> bool {
        matches!(
            self,
            SubState::Stop | SubState::StopSigterm | SubState::StopSigkill | SubState::StopPost
        )
    }
}

/// How a run ended (systemd's `Result=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunResult {
    /// Fine.
    Success,
    /// A process exited with a non-zero status.
    ExitCode,
    /// A process was killed by a signal.
    Signal,
    /// A process dumped core.
    CoreDump,
    /// A timeout passed.
    Timeout,
    /// The service broke the notification protocol (e.g. exited before `READY=1`).
    Protocol,
    /// The manager could not set up a process (fork, exec, cgroup, user).
    Resources,
    /// A required unit failed.
    Dependency,
    /// The watchdog was not pinged in time.
    Watchdog,
}

impl RunResult {
    /// systemd's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RunResult::Success => "success",
            RunResult::ExitCode => "exit-code",
            RunResult::Signal => "signal",
            RunResult::CoreDump => "core-dump",
            RunResult::Timeout => "timeout",
            RunResult::Protocol => "protocol",
            RunResult::Resources => "resources",
            RunResult::Dependency => "dependency",
            RunResult::Watchdog => "watchdog",
        }
    }
}

/// What a process is to its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The main process.
    Main,
    /// A control process (`ExecStartPre=`, `ExecStartPost=`, `ExecStop=`, …).
    Control,
    /// A former main process (replaced through `MAINPID=`), still being waited for.
    Former,
}

/// A process the manager tracks.
#[derive(Debug)]
pub struct Proc {
    /// PID (stable while unreaped, since the manager is its parent or holds its pidfd).
    pub pid: i32,
    /// A pidfd, for signals that cannot hit a recycled PID.
    pub pidfd: OwnedFd,
    /// Its pidfs inode: the identity that survives PID reuse.
    pub inode: Option<u64>,
    /// Adopted through `MAINPID=` rather than started by the manager.
    pub adopted: bool,
}

/// A kept log line, compact (a unit keeps up to [`LOG_LINES_KEPT`]; with a thousand
/// units the unit name and stream are not worth repeating in every line).
#[derive(Debug, Clone)]
pub struct KeptLine {
    /// When, in µs since the epoch.
    pub at_usec: u64,
    /// The writer's PID; 0 for the manager's own lines.
    pub pid: u32,
    /// The text.
    pub text: Box<str>,
}

impl KeptLine {
    /// The line as the control protocol carries it.
    pub fn to_api(&self, unit: &str) -> LogLine {
        LogLine {
            at_usec: self.at_usec,
            unit: unit.to_owned(),
            pid: self.pid,
            stream: if self.pid == 0 { "herald" } else { "output" }.into(),
            text: self.text.to_string(),
        }
    }
}

/// A queued or running job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// What it does.
    pub kind: api::JobKind,
    /// Whether it has begun executing (start/stop sequences under way).
    pub running: bool,
    /// Control connections waiting for it to finish.
    pub waiters: Vec<u64>,
}

/// A unit's configuration and the files it came from. Instances of one template with
/// the same resolved settings share one copy (a fleet of a thousand `worker@N` units
/// keeps one configuration, not a thousand).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The settings.
    pub config: Arc<UnitConfig>,
    /// The unit file, then its drop-ins.
    pub sources: Arc<[PathBuf]>,
}

impl Loaded {
    /// The unit file, then its drop-ins.
    pub fn source_paths(&self) -> &[PathBuf] {
        &self.sources
    }
}

/// A unit's resolved dependencies.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Links {
    /// Resolved `Requires=`.
    pub requires: Vec<UnitId>,
    /// Resolved `Wants=`.
    pub wants: Vec<UnitId>,
    /// Resolved `BindsTo=`.
    pub binds_to: Vec<UnitId>,
    /// Units this one starts after: its `After=` plus others' `Before=` naming it.
    pub after: Vec<UnitId>,
    /// Units that start after this one (the reverse of `after`).
    pub before: Vec<UnitId>,
    /// Units that require or bind to this one.
    pub required_by: Vec<UnitId>,
    /// Units that bind to this one.
    pub bound_by: Vec<UnitId>,
}

static NO_LINKS: Links = Links {
    requires: Vec::new(),
    wants: Vec::new(),
    binds_to: Vec::new(),
    after: Vec::new(),
    before: Vec::new(),
    required_by: Vec::new(),
    bound_by: Vec::new(),
};

/// One unit: its configuration (if it loaded) and its run-time state.
#[derive(Debug)]
pub struct Unit {
    /// `name.service`.
    pub name: String,
    /// The configuration, when the file loaded.
    pub loaded: Option<Loaded>,
    /// Why it did not load, or `not-found`.
    pub load_error: Option<String>,
    /// Whether no file was found for it.
    pub not_found: bool,
    /// Resolved dependencies; most units of a large fleet have none, so they share one
    /// empty record instead of seven empty vectors each.
    links: Option<Box<Links>>,
    /// Current state.
    pub state: SubState,
    /// How the last run ended.
    pub result: RunResult,
    /// Why it failed, in a sentence.
    pub failure: Option<String>,
    /// The main process.
    pub main: Option<Proc>,
    /// The running control process.
    pub control: Option<Proc>,
    /// Index into the control command list being run (ExecStartPre=, ExecStop=, …).
    pub cmd_index: usize,
    /// Index of the `ExecStart=` being run (a oneshot runs several in turn).
    pub main_cmd: usize,
    /// How the main process last exited.
    pub main_exit: Option<crate::sys::ExitStatus>,
    /// An exec failure reported by a child before it exited.
    pub exec_failure: Option<String>,
    /// Last `STATUS=`.
    pub status_text: Option<String>,
    /// Last `ERRNO=`.
    pub errno: Option<u32>,
    /// `NOTIFYACCESS=` override.
    pub notify_access_override: Option<NotifyAccess>,
    /// Whether `STOPPING=1` was announced for the current run.
    pub stopping_notified: bool,
    /// The queued or running job.
    pub job: Option<Job>,
    /// The state's deadline (start or stop timeout, restart delay).
    pub deadline: Option<Instant>,
    /// The watchdog interval in force (`WatchdogSec=`, or a `WATCHDOG_USEC=` override).
    pub watchdog: Option<Duration>,
    /// When the watchdog fires unless the service pings it (`WATCHDOG=1`).
    pub watchdog_deadline: Option<Instant>,
    /// When the current start began.
    pub start_began: Option<Instant>,
    /// Time from start to readiness of the current run.
    pub ready_after: Option<Duration>,
    /// Wall-clock time the current active state began.
    pub state_since: Option<SystemTime>,
    /// The service's cgroup while it has one.
    pub cgroup: Option<ServiceCgroup>,
    /// Whether the cgroup's `cgroup.events` is being watched for emptiness.
    pub cgroup_watch: Option<u64>,
    /// Notifications accepted.
    pub accepted: u64,
    /// The fd store: fds the service handed over with `FDSTORE=1`, with their names.
    pub fd_store: Vec<(OwnedFd, Box<str>)>,
    /// Notifications refused or dropped, in all.
    pub refusals: u64,
    /// Notifications refused, newest last.
    pub rejected: VecDeque<RejectedNotification>,
    /// Output and manager lines, newest last.
    pub log: VecDeque<KeptLine>,
    /// Automatic restarts since the last manual start.
    pub restarts: u32,
    /// Start the unit again once it is down (the second half of a restart job).
    pub restart_after_stop: bool,
}

impl Unit {
    /// A unit record with no configuration yet.
    pub fn new(name: String) -> Unit {
        Unit {
            name,
            loaded: None,
            load_error: None,
            not_found: false,
            links: None,
            state: SubState::Dead,
            result: RunResult::Success,
            failure: None,
            main: None,
            control: None,
            cmd_index: 0,
            main_cmd: 0,
            main_exit: None,
            exec_failure: None,
            status_text: None,
            errno: None,
            notify_access_override: None,
            stopping_notified: false,
            job: None,
            deadline: None,
            watchdog: None,
            watchdog_deadline: None,
            start_began: None,
            ready_after: None,
            state_since: None,
            cgroup: None,
            cgroup_watch: None,
            accepted: 0,
            refusals: 0,
            fd_store: Vec::new(),
            rejected: VecDeque::new(),
            log: VecDeque::new(),
            restarts: 0,
            restart_after_stop: false,
        }
    }

    /// Its dependencies.
    pub fn links(&self) -> &Links {
        self.links.as_deref().unwrap_or(&NO_LINKS)
    }

    /// Its dependencies, to change them (allocated on first use).
    pub fn links_mut(&mut self) -> &mut Links {
        self.links.get_or_insert_with(Default::default)
    }

    /// The service type (simple for units that did not load).
    pub fn service_type(&self) -> ServiceType {
        self.loaded
            .as_ref()
            .map_or(ServiceType::Simple, |l| l.config.service_type)
    }

    /// The effective `NotifyAccess=`: a run-time override, else the configured value
    /// with systemd's rule that notify and watchdog services default to `main`.
    pub fn notify_access(&self) -> NotifyAccess {
        if let Some(o) = self.notify_access_override {
            return o;
        }
        match self
            .loaded
            .as_ref()
            .map(|l| l.config.effective_notify_access())
        {
            Some(herald_unit::NotifyAccess::Main) => NotifyAccess::Main,
            Some(herald_unit::NotifyAccess::Exec) => NotifyAccess::Exec,
            Some(herald_unit::NotifyAccess::All) => NotifyAccess::All,
            Some(herald_unit::NotifyAccess::None) | None => NotifyAccess::None,
        }
    }

    /// Records a refused notification (keeping the last [`REJECTED_KEPT`]).
    pub fn reject(&mut self, pid: i32, reason: String, payload: &[u8]) {
        if self.rejected.len() == REJECTED_KEPT {
            self.rejected.pop_front();
        }
        let shown = &payload[..payload.len().min(256)];
        self.rejected.push_back(RejectedNotification {
            at_usec: now_usec(),
            pid: pid.max(0) as u32,
            reason,
            message: String::from_utf8_lossy(shown).into_owned(),
        });
    }

    /// Keeps a log line (the last [`LOG_LINES_KEPT`]).
    pub fn keep_log(&mut self, line: KeptLine) {
        if self.log.len() == LOG_LINES_KEPT {
            self.log.pop_front();
        } else if self.log.len() == self.log.capacity() {
            // Grow from 2 (most units log a couple of lines): a thousand units
            // should not each hold room for four.
            let room = LOG_LINES_KEPT - self.log.len();
            self.log.reserve_exact(self.log.len().max(2).min(room));
        }
        self.log.push_back(line);
    }

    /// The record `ctl status` shows.
    /// `all` is the manager's unit table, to name the units this one is ordered against.
    pub fn status(&self, all: &[Unit], processes: Vec<api::ProcessInfo>) -> api::UnitStatus {
        let cfg = self.loaded.as_ref().map(|l| &l.config);
        let deps = |ids: &[UnitId]| ids.iter().map(|&i| all[i].name.clone()).collect();
        api::UnitStatus {
            name: self.name.clone(),
            description: cfg.and_then(|c| c.description.clone()),
            load_state: if self.not_found {
                "not-found".into()
            } else if self.loaded.is_some() && self.load_error.is_none() {
                "loaded".into()
            } else {
                "error".into()
            },
            load_error: self.load_error.clone(),
            source_paths: self
                .loaded
                .as_ref()
                .map(|l| {
                    l.source_paths()
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            active_state: self.state.active_state().into(),
            sub_state: self.state.as_str().into(),
            result: self.result.as_str().into(),
            failure: self.failure.clone(),
            service_type: self.service_type().as_str().into(),
            notify_access: self.notify_access().as_str().into(),
            state_since_usec: self.state_since.map(system_usec),
            ready_after_usec: self.ready_after.map(|d| d.as_micros() as u64),
            main_pid: self.main.as_ref().map(|p| p.pid as u32),
            main_command: self.main.as_ref().map(|p| command_of(p.pid)),
            control_pid: self.control.as_ref().map(|p| p.pid as u32),
            main_exit: self.main_exit.map(exit_info),
            status_text: self.status_text.clone(),
            errno: self.errno,
            cgroup: self
                .cgroup
                .as_ref()
                .map(|c| c.cgroup().cgroup_path().display().to_string()),
            processes,
            notifications_accepted: self.accepted,
            notifications_refused: self.refusals,
            fd_store: self.fd_store.iter().map(|(_, n)| n.to_string()).collect(),
            rejected: self.rejected.iter().cloned().collect(),
            dependencies: api::Dependencies {
                requires: cfg.map(|c| c.requires.clone()).unwrap_or_default(),
                wants: cfg.map(|c| c.wants.clone()).unwrap_or_default(),
                binds_to: cfg.map(|c| c.binds_to.clone()).unwrap_or_default(),
                after: deps(&self.links().after),
                before: deps(&self.links().before),
            },
        }
    }
}

/// How a process ended, as the control protocol reports it.
pub fn exit_info(status: crate::sys::ExitStatus) -> ExitInfo {
    match status {
        crate::sys::ExitStatus::Exited(code) => ExitInfo {
            code: "exited".into(),
            status: code,
            signal: None,
        },
        crate::sys::ExitStatus::Signaled {
            signal,
            core_dumped,
        } => ExitInfo {
            code: if core_dumped { "dumped" } else { "killed" }.into(),
            status: signal,
            signal: herald_unit::Signal::from_number(signal)
                .map(|s| s.name().trim_start_matches("SIG").to_owned()),
        },
    }
}

/// A process's command line from `/proc/PID/cmdline` (read when asked, not kept).
pub fn command_of(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            let words: Vec<String> = b
                .split(|&c| c == 0)
                .filter(|p| !p.is_empty())
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            words.join(" ")
        })
        .unwrap_or_default()
}

/// Microseconds since the epoch of a wall-clock time.
pub fn system_usec(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Microseconds since the epoch, now.
pub fn now_usec() -> u64 {
    system_usec(SystemTime::now())
}
