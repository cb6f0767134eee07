//! The manager: one single-threaded epoll loop that owns the notification socket, the
//! control socket, every service process and its cgroup, and moves each unit through
//! its states.
//!
//! Order matters and is kept strictly: each wake-up first drains the notification
//! socket (so a message a process sent before exiting is handled while the process is
//! still unreaped, and so barriers answer in arrival order), then reaps children, then
//! handles everything else; after each batch, queued jobs whose ordering dependencies
//! are satisfied start, and timeouts fire.

use std::collections::{HashMap, VecDeque};
use std::ffi::CString;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use herald_proto::message::{self, Field};
use herald_proto::NotifyAccess;
use herald_unit::{ExecCommand, KillMode, Restart, ServiceType, SpecifierContext};
use rustix::event::epoll;

use crate::api::{self, JobKind, JobOutcome, LogLine, Request, Response};
use crate::cgroup::{Hierarchy, ManagerCgroups};
use crate::control::{self, Conn};
use crate::receiver::{Incoming, NotifyReceiver, Sender};
use crate::spawn::{self, SpawnRequest};
use crate::sys::{self, ExitStatus};
use crate::unit::{now_usec, Job, KeptLine, Loaded, Proc, Role, RunResult, SubState, Unit, UnitId};
use crate::users;

/// How the manager keeps services apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Use cgroup v2 when it is writable here; otherwise fall back to process ancestry
    /// (and say so once).
    Auto,
    /// Never use cgroups: attribute by process ancestry.
    Off,
}

/// What `herald up` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Directories with `.service` files (searched in order).
    pub unit_dirs: Vec<PathBuf>,
    /// Units to start; empty means every unit in the directories.
    pub units: Vec<String>,
    /// Where the notification and control sockets live.
    pub runtime_dir: PathBuf,
    /// cgroup use.
    pub cgroups: CgroupMode,
    /// Start the units, report, stop them again and exit (0 if all started).
    pub once: bool,
}

/// Why the manager could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// Setting up a socket, the event loop or a directory failed.
    #[error("{context}: {source}")]
    Setup {
        /// What was being set up.
        context: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Nothing to run.
    #[error("{0}")]
    Usage(String),
}

fn setup(context: impl Into<String>) -> impl FnOnce(io::Error) -> ManagerError {
    let context = context.into();
    move |source| ManagerError::Setup { context, source }
}

const TOKEN_NOTIFY: u64 = 1;
const TOKEN_SIGNAL: u64 = 2;
const TOKEN_CONTROL: u64 = 3;
const FIRST_DYNAMIC_TOKEN: u64 = 16;
/// Notifications handled per wake-up before other sources get a turn.
const NOTIFY_BUDGET: usize = 4096;
/// The default PATH of services, as systemd's.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a dynamic epoll token stands for.
#[derive(Debug)]
enum Source {
    /// A process's stdout+stderr pipe.
    Output {
        unit: UnitId,
        pid: i32,
        fd: OwnedFd,
        partial: Vec<u8>,
    },
    /// A child's exec-report pipe.
    ExecReport { unit: UnitId, pid: i32, fd: OwnedFd },
    /// A service cgroup's `cgroup.events`, watched until it is empty.
    CgroupEvents { unit: UnitId, fd: OwnedFd },
    /// The pidfd of a main process adopted through `MAINPID=` (not our child).
    AdoptedMain { unit: UnitId, pid: i32 },
    /// A control connection (boxed: it is much larger than the other sources).
    Conn(Box<Conn>),
}

/// A tracked process: whose it is, what it is, and whether the manager is its parent
/// (an unreaped child's PID cannot be recycled, so it identifies the process alone).
#[derive(Debug, Clone, Copy)]
struct ProcEntry {
    unit: UnitId,
    role: Role,
    child: bool,
}

/// The manager's state. Built by [`Manager::new`], run by [`Manager::run`].
pub struct Manager {
    units: Vec<Unit>,
    by_name: HashMap<String, UnitId>,
    procs: HashMap<i32, ProcEntry>,
    cgroup_ids: HashMap<u64, UnitId>,
    cgroups: Option<ManagerCgroups>,
    receiver: Option<NotifyReceiver>,
    epoll: OwnedFd,
    signals: OwnedFd,
    control: OwnedFd,
    sources: HashMap<u64, Source>,
    next_token: u64,
    own_pid: i32,
    notify_path: PathBuf,
    control_path: PathBuf,
    runtime_dir: PathBuf,
    ctx: SpecifierContext,
    shutting_down: bool,
    once: bool,
    once_reported: bool,
    started_ok: bool,
    unattributed_logged: u64,
    herald_exe: Option<String>,
}

fn log_line(text: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

fn specifier_context(runtime_dir: &Path) -> SpecifierContext {
    let uid = rustix::process::geteuid().as_raw();
    let account = users::find_user(&uid.to_string());
    SpecifierContext {
        runtime_dir: if uid == 0 {
            "/run".into()
        } else {
            std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| runtime_dir.display().to_string())
        },
        home: account
            .as_ref()
            .map(|a| a.home.clone())
            .or_else(|| std::env::var("HOME").ok())
            .unwrap_or_else(|| "/".into()),
        user: account
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_else(|| uid.to_string()),
        uid,
        hostname: hostname(),
        fragment: None,
    }
}

fn format_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// How a process ended, as a result and a phrase. As in systemd, death by SIGHUP,
/// SIGINT, SIGTERM or SIGPIPE counts as a clean exit: it is how services are stopped.
fn describe_exit(status: ExitStatus) -> (RunResult, String) {
    match status {
        ExitStatus::Exited(0) => (RunResult::Success, "exited successfully".into()),
        ExitStatus::Exited(code) => (RunResult::ExitCode, format!("exited with status {code}")),
        ExitStatus::Signaled {
            signal,
            core_dumped,
        } => {
            let name = herald_unit::Signal::from_number(signal)
                .map_or_else(|| signal.to_string(), |s| s.name());
            if core_dumped {
                (RunResult::CoreDump, format!("dumped core on {name}"))
            } else if matches!(
                signal,
                libc::SIGHUP | libc::SIGINT | libc::SIGTERM | libc::SIGPIPE
            ) {
                (RunResult::Success, format!("was terminated by {name}"))
            } else {
                (RunResult::Signal, format!("was killed by {name}"))
            }
        }
    }
}

/// The parent PID and state letter of a process, from `/proc/PID/stat`.
fn proc_stat(pid: i32) -> Option<(i32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some((ppid, state))
}

impl Manager {
    /// Loads the units, sets up cgroups and sockets. Prints what it loaded and what it
    /// could not.
    pub fn new(opts: &Options) -> Result<Manager, ManagerError> {
        if opts.unit_dirs.is_empty() {
            return Err(ManagerError::Usage("no unit directory given".into()));
        }
        for d in &opts.unit_dirs {
            if !d.is_dir() {
                return Err(ManagerError::Usage(format!(
                    "{}: not a directory",
                    d.display()
                )));
            }
        }
        // Signals first, before any thread could exist, so the mask is inherited.
        let signals =
            sys::signalfd_for(&[libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP])
                .map_err(setup("signalfd"))?;
        sys::set_child_subreaper(true).map_err(setup("PR_SET_CHILD_SUBREAPER"))?;
        // Descriptors inherited from whoever started herald must not leak into services.
        cloexec_inherited_fds();
        raise_fd_limit();

        std::fs::create_dir_all(&opts.runtime_dir)
            .map_err(setup(format!("create {}", opts.runtime_dir.display())))?;
        let notify_path = crate::paths::notify_socket(&opts.runtime_dir);
        let control_path = crate::paths::control_socket(&opts.runtime_dir);
        // Never take the sockets of a manager that is still running.
        if std::os::unix::net::UnixStream::connect(&control_path).is_ok() {
            return Err(ManagerError::Usage(format!(
                "another herald is running with runtime directory {} (use --runtime-dir)",
                opts.runtime_dir.display()
            )));
        }
        let receiver = NotifyReceiver::bind(&notify_path)
            .map_err(setup(format!("bind {}", notify_path.display())))?;
        let control = control::listen(&control_path)
            .map_err(setup(format!("bind {}", control_path.display())))?;

        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)
            .map_err(|e| setup("epoll_create")(e.into()))?;
        let ctx = specifier_context(&opts.runtime_dir);
        let mut m = Manager {
            units: Vec::new(),
            by_name: HashMap::new(),
            procs: HashMap::new(),
            cgroup_ids: HashMap::new(),
            cgroups: None,
            receiver: Some(receiver),
            epoll,
            signals,
            control,
            sources: HashMap::new(),
            next_token: FIRST_DYNAMIC_TOKEN,
            own_pid: std::process::id() as i32,
            notify_path,
            control_path,
            runtime_dir: opts.runtime_dir.clone(),
            ctx,
            shutting_down: false,
            once: opts.once,
            once_reported: false,
            started_ok: true,
            unattributed_logged: 0,
            herald_exe: std::env::current_exe()
                .ok()
                .map(|p| p.display().to_string()),
        };
        m.register(
            TOKEN_NOTIFY,
            m.receiver.as_ref().expect("receiver").fd().as_raw_fd(),
        )?;
        m.register(TOKEN_SIGNAL, m.signals.as_raw_fd())?;
        m.register(TOKEN_CONTROL, m.control.as_raw_fd())?;

        if opts.cgroups == CgroupMode::Auto {
            match Hierarchy::discover().and_then(|h| {
                let own = h.own_cgroup()?;
                ManagerCgroups::create_unique(&own)
            }) {
                Ok(c) => {
                    log_line(&format!(
                        "herald: running units under cgroup {}",
                        c.subtree().cgroup_path().display()
                    ));
                    m.cgroups = Some(c);
                }
                Err(e) => log_line(&format!(
                    "herald: cgroup v2 is not usable here ({e}); running without cgroups: processes are \
                     attributed by ancestry, so a message from a process that has left its service's process \
                     tree (daemonized and reparented) cannot be attributed, and stopping a service kills its \
                     process group rather than every process it started"
                )),
            }
        } else {
            log_line("herald: cgroups disabled (--no-cgroups): attributing notifications by process ancestry");
        }
        if !m.receiver.as_ref().expect("receiver").passes_pidfd() {
            log_line(
                "herald: this kernel cannot attach pidfds to messages (SO_PASSPIDFD, Linux 6.5+): a message \
                 from a process that exits before it is read is attributed through /proc, which fails once \
                 the process is reaped; senders should use a barrier (herald notify does by default)",
            );
        }
        m.load_units(opts);
        Ok(m)
    }

    fn register(&self, token: u64, fd: i32) -> Result<(), ManagerError> {
        self.epoll_add(token, fd, epoll::EventFlags::IN)
            .map_err(setup("epoll_ctl"))
    }

    fn epoll_add(&self, token: u64, fd: i32, flags: epoll::EventFlags) -> io::Result<()> {
        let fd = sys::borrow_fd(fd);
        epoll::add(&self.epoll, fd, epoll::EventData::new_u64(token), flags).map_err(Into::into)
    }

    fn add_source(&mut self, source: Source, flags: epoll::EventFlags) -> io::Result<u64> {
        let token = self.next_token;
        self.next_token += 1;
        let fd = match &source {
            Source::Output { fd, .. }
            | Source::ExecReport { fd, .. }
            | Source::CgroupEvents { fd, .. } => fd.as_raw_fd(),
            Source::AdoptedMain { unit, .. } => self.units[*unit]
                .main
                .as_ref()
                .expect("adopted main has a pidfd")
                .pidfd
                .as_raw_fd(),
            Source::Conn(c) => c.fd.as_raw_fd(),
        };
        self.epoll_add(token, fd, flags)?;
        self.sources.insert(token, source);
        Ok(token)
    }

    fn remove_source(&mut self, token: u64) -> Option<Source> {
        let source = self.sources.remove(&token)?;
        let fd = match &source {
            Source::Output { fd, .. }
            | Source::ExecReport { fd, .. }
            | Source::CgroupEvents { fd, .. } => Some(fd.as_raw_fd()),
            Source::AdoptedMain { unit, .. } => {
                self.units[*unit].main.as_ref().map(|m| m.pidfd.as_raw_fd())
            }
            Source::Conn(c) => Some(c.fd.as_raw_fd()),
        };
        if let Some(fd) = fd {
            let _ = epoll::delete(&self.epoll, sys::borrow_fd(fd));
        }
        Some(source)
    }

    // ----------------------------------------------------------------------------
    // Loading.
    // ----------------------------------------------------------------------------

    fn unit_id(&mut self, name: &str) -> UnitId {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.units.len();
        self.units.push(Unit::new(name.to_owned()));
        self.by_name.insert(name.to_owned(), id);
        id
    }

    fn load_units(&mut self, opts: &Options) {
        let requested: Vec<String> = if opts.units.is_empty() {
            herald_unit::list_units(&opts.unit_dirs)
        } else {
            opts.units
                .iter()
                .map(|u| herald_unit::normalize_name(u).unwrap_or_else(|_| u.clone()))
                .collect()
        };
        if requested.is_empty() {
            log_line("herald: no units to start");
        }
        let mut shared: HashMap<PathBuf, Vec<Loaded>> = HashMap::new();
        // Load the requested units and, transitively, everything they name.
        let mut queue: VecDeque<String> = requested.iter().cloned().collect();
        while let Some(name) = queue.pop_front() {
            if self.by_name.contains_key(&name) {
                continue;
            }
            let id = self.unit_id(&name);
            if !name.ends_with(".service") {
                // Targets and other unit types are accepted as names to order against,
                // with nothing to run.
                self.units[id].not_found = true;
                continue;
            }
            match herald_unit::load_unit(&opts.unit_dirs, &name, &self.ctx) {
                Ok(loaded) => {
                    for w in &loaded.warnings {
                        log_line(&format!("herald: {w}"));
                    }
                    let c = &loaded.config;
                    for dep in c
                        .requires
                        .iter()
                        .chain(&c.wants)
                        .chain(&c.binds_to)
                        .chain(&c.after)
                        .chain(&c.before)
                    {
                        if !self.by_name.contains_key(dep) {
                            queue.push_back(dep.clone());
                        }
                    }
                    self.units[id].loaded = Some(share_config(&mut shared, loaded));
                }
                Err(e) => {
                    let not_found = matches!(e.kind, herald_unit::ErrorKind::NotFound { .. });
                    let u = &mut self.units[id];
                    u.not_found = not_found;
                    u.load_error = Some(e.to_string());
                    if !not_found || requested.contains(&name) {
                        log_line(&format!("herald: failed to load {name}: {e}"));
                    }
                }
            }
        }
        // The table is complete: no unit is added after loading.
        self.units.shrink_to_fit();
        self.resolve_dependencies();
        self.break_cycles();
        for name in requested {
            let id = self.by_name[&name];
            self.enqueue(id, JobKind::Start, None);
        }
    }

    fn resolve_dependencies(&mut self) {
        for id in 0..self.units.len() {
            let Some(cfg) = self.units[id].loaded.as_ref().map(|l| l.config.clone()) else {
                continue;
            };
            let ids = |m: &Self, names: &[String]| -> Vec<UnitId> {
                names
                    .iter()
                    .filter_map(|n| m.by_name.get(n).copied())
                    .collect()
            };
            let (requires, wants, binds_to, after, before) = (
                ids(self, &cfg.requires),
                ids(self, &cfg.wants),
                ids(self, &cfg.binds_to),
                ids(self, &cfg.after),
                ids(self, &cfg.before),
            );
            for &d in &requires {
                self.units[d].links_mut().required_by.push(id);
            }
            for &d in &binds_to {
                self.units[d].links_mut().required_by.push(id);
                self.units[d].links_mut().bound_by.push(id);
            }
            for &d in &after {
                push_unique(&mut self.units[id].links_mut().after, d);
                push_unique(&mut self.units[d].links_mut().before, id);
            }
            for &d in &before {
                push_unique(&mut self.units[d].links_mut().after, id);
                push_unique(&mut self.units[id].links_mut().before, d);
            }
            let u = &mut self.units[id];
            if !(requires.is_empty() && wants.is_empty() && binds_to.is_empty()) {
                let l = u.links_mut();
                l.requires = requires;
                l.wants = wants;
                l.binds_to = binds_to;
            }
        }
    }

    /// Finds ordering cycles; the units on a cycle are refused with an error naming it.
    fn break_cycles(&mut self) {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        let n = self.units.len();
        let mut mark = vec![Mark::New; n];
        let mut stack: Vec<UnitId> = Vec::new();
        let mut cycles: Vec<Vec<UnitId>> = Vec::new();
        fn visit(
            m: &Manager,
            v: UnitId,
            mark: &mut [Mark],
            stack: &mut Vec<UnitId>,
            cycles: &mut Vec<Vec<UnitId>>,
        ) {
            mark[v] = Mark::Active;
            stack.push(v);
            for &w in &m.units[v].links().after {
                match mark[w] {
                    Mark::New => visit(m, w, mark, stack, cycles),
                    Mark::Active => {
                        let start = stack.iter().position(|&x| x == w).expect("on stack");
                        cycles.push(stack[start..].to_vec());
                    }
                    Mark::Done => {}
                }
            }
            stack.pop();
            mark[v] = Mark::Done;
        }
        for v in 0..n {
            if mark[v] == Mark::New {
                visit(self, v, &mut mark, &mut stack, &mut cycles);
            }
        }
        for cycle in cycles {
            let mut names: Vec<&str> = cycle
                .iter()
                .rev()
                .map(|&i| self.units[i].name.as_str())
                .collect();
            names.push(names[0]);
            let text = format!("ordering cycle: {}", names.join(" → "));
            log_line(&format!("herald: {text}; not starting the units on it"));
            for &i in &cycle {
                self.units[i].load_error.get_or_insert_with(|| text.clone());
            }
        }
    }

    // ----------------------------------------------------------------------------
    // Jobs.
    // ----------------------------------------------------------------------------

    /// Queues a job on a unit, and the jobs it implies: a start starts what the unit
    /// requires and wants; a stop stops what requires it.
    fn enqueue(&mut self, id: UnitId, kind: JobKind, waiter: Option<u64>) {
        let u = &mut self.units[id];
        let kind = match (kind, u.job.as_ref().map(|j| j.kind)) {
            // A pending job of the same kind absorbs the new one.
            (k, Some(existing)) if k == existing => {
                if let Some(w) = waiter {
                    u.job.as_mut().expect("job").waiters.push(w);
                }
                return;
            }
            (k, _) => k,
        };
        if let Some(old) = u.job.take() {
            // A different job replaces it: the old one's waiters learn it was canceled.
            self.finish_waiters(
                id,
                old,
                "canceled",
                Some(format!("replaced by a {} job", kind.as_str())),
            );
        }
        self.units[id].job = Some(Job {
            kind,
            running: false,
            waiters: waiter.into_iter().collect(),
        });
        match kind {
            JobKind::Start | JobKind::Restart => {
                let u = &self.units[id];
                let deps: Vec<UnitId> = u
                    .links()
                    .requires
                    .iter()
                    .chain(&u.links().binds_to)
                    .chain(&u.links().wants)
                    .copied()
                    .collect();
                for d in deps {
                    let du = &self.units[d];
                    if du.job.is_none() && !du.state.is_active() {
                        self.enqueue(d, JobKind::Start, None);
                    }
                }
            }
            JobKind::Stop => {
                let dependents = self.units[id].links().required_by.clone();
                for d in dependents {
                    let du = &self.units[d];
                    if !du.state.is_inactive()
                        && du.job.as_ref().map(|j| j.kind) != Some(JobKind::Stop)
                    {
                        self.enqueue(d, JobKind::Stop, None);
                    }
                }
            }
            JobKind::Reload => {}
        }
    }

    fn finish_waiters(&mut self, id: UnitId, job: Job, result: &str, reason: Option<String>) {
        for w in job.waiters {
            let outcome = JobOutcome {
                unit: self.units[id].name.clone(),
                kind: job.kind,
                result: result.into(),
                reason: reason.clone(),
            };
            if let Some(Source::Conn(c)) = self.sources.get_mut(&w) {
                c.job_finished(outcome);
            }
            self.flush_conn(w);
        }
    }

    /// Ends the unit's job with a result.
    fn job_done(&mut self, id: UnitId, result: &str, reason: Option<String>) {
        if let Some(job) = self.units[id].job.take() {
            self.finish_waiters(id, job, result, reason);
        }
    }

    fn has_job(&self, id: UnitId, kind: JobKind) -> bool {
        self.units[id].job.as_ref().is_some_and(|j| {
            j.kind == kind || (kind == JobKind::Start && j.kind == JobKind::Restart)
        })
    }

    /// Starts every queued job whose ordering dependencies are satisfied, until none
    /// can make progress.
    fn dispatch_jobs(&mut self) {
        self.run_ready_jobs();
        if self.once
            && !self.once_reported
            && !self.shutting_down
            && self.units.iter().all(|u| u.job.is_none())
        {
            self.once_reported = true;
            let failed: Vec<&str> = self
                .units
                .iter()
                .filter(|u| u.state == SubState::Failed || (u.load_error.is_some() && !u.not_found))
                .map(|u| u.name.as_str())
                .collect();
            if failed.is_empty() {
                log_line("herald: all units started; stopping (--once)");
            } else {
                self.started_ok = false;
                log_line(&format!(
                    "herald: failed to start: {}; stopping (--once)",
                    failed.join(", ")
                ));
            }
            self.begin_shutdown();
            // The stop jobs just queued must start now: nothing else may wake the loop.
            self.run_ready_jobs();
        }
    }

    /// Starts every queued job that can run, until none can make progress.
    fn run_ready_jobs(&mut self) {
        loop {
            let mut progressed = false;
            for id in 0..self.units.len() {
                let Some(job) = self.units[id].job.as_ref() else {
                    continue;
                };
                if job.running {
                    continue;
                }
                let kind = job.kind;
                let ran = match kind {
                    JobKind::Start => self.try_start_job(id),
                    JobKind::Stop | JobKind::Restart => {
                        self.try_stop_job(id, kind == JobKind::Restart)
                    }
                    JobKind::Reload => self.try_reload_job(id),
                };
                progressed |= ran;
            }
            if !progressed {
                break;
            }
        }
    }

    fn try_start_job(&mut self, id: UnitId) -> bool {
        let u = &self.units[id];
        // A required unit that is down with no job to bring it up fails this one.
        for &d in u.links().requires.iter().chain(&u.links().binds_to) {
            let du = &self.units[d];
            let pending = du
                .job
                .as_ref()
                .is_some_and(|j| matches!(j.kind, JobKind::Start | JobKind::Restart));
            // A missing target or other non-service name only orders; it cannot fail.
            let order_only = du.not_found && !du.name.ends_with(".service");
            if !pending && !du.state.is_active() && !order_only {
                let reason = match (&du.load_error, &du.failure) {
                    (Some(e), _) => format!("required unit {} did not load: {e}", du.name),
                    (None, Some(f)) => format!("required unit {} failed: {f}", du.name),
                    _ => format!("required unit {} is not active", du.name),
                };
                self.fail_start_job(id, RunResult::Dependency, reason);
                return true;
            }
        }
        // Before waiting on ordering: a unit that cannot run fails at once (so units on
        // an ordering cycle, refused at load, cannot wait for each other forever).
        if let Some(e) = self.units[id].load_error.clone() {
            self.fail_start_job(id, RunResult::Resources, e);
            return true;
        }
        if self.units[id].loaded.is_none() {
            // A name to order against (a target or another unit type): nothing to run.
            self.job_done(id, "done", None);
            return true;
        }
        // Wait for everything ordered before it that is starting.
        if self.units[id]
            .links()
            .after
            .iter()
            .any(|&d| self.has_job(d, JobKind::Start))
        {
            return false;
        }
        if self.units[id].state.is_active() {
            self.job_done(id, "done", None);
            return true;
        }
        if !self.units[id].state.is_inactive() && self.units[id].state != SubState::AutoRestart {
            // On its way down: wait until it is.
            return false;
        }
        self.units[id].job.as_mut().expect("job").running = true;
        self.units[id].restarts = 0;
        self.begin_start(id);
        true
    }

    fn fail_start_job(&mut self, id: UnitId, result: RunResult, reason: String) {
        let u = &mut self.units[id];
        u.result = result;
        u.failure = Some(reason.clone());
        self.set_state(id, SubState::Failed);
        log_line(&format!("Failed {}: {reason}", self.units[id].name));
        self.job_done(
            id,
            if result == RunResult::Dependency {
                "dependency"
            } else {
                "failed"
            },
            Some(reason),
        );
    }

    fn try_stop_job(&mut self, id: UnitId, restart: bool) -> bool {
        // Units that start after this one stop before it.
        if self.units[id]
            .links()
            .before
            .iter()
            .any(|&d| self.has_job(d, JobKind::Stop) || self.units[d].state.is_stopping())
        {
            return false;
        }
        self.units[id].job.as_mut().expect("job").running = true;
        self.units[id].restart_after_stop = restart;
        let state = self.units[id].state;
        if state.is_inactive() || state == SubState::AutoRestart {
            if state == SubState::AutoRestart {
                self.units[id].deadline = None;
                self.set_state(id, SubState::Dead);
            }
            self.stop_finished(id);
        } else if !state.is_stopping() {
            self.log_unit(id, &format!("Stopping {}…", self.units[id].name));
            self.begin_stop(id, RunResult::Success);
        }
        true
    }

    fn try_reload_job(&mut self, id: UnitId) -> bool {
        let u = &self.units[id];
        if !matches!(u.state, SubState::Running | SubState::Exited) {
            if u.state.is_starting() {
                return false;
            }
            let reason = format!("{} is not active", u.name);
            self.job_done(id, "failed", Some(reason));
            return true;
        }
        let cfg = &u.loaded.as_ref().expect("active units are loaded").config;
        let has_exec_reload = !cfg.exec_reload.is_empty();
        let notify_reload = cfg.service_type == ServiceType::NotifyReload;
        if !has_exec_reload && !notify_reload {
            let reason = format!(
                "{} has no ExecReload= and is not Type=notify-reload",
                u.name
            );
            self.job_done(id, "failed", Some(reason));
            return true;
        }
        self.units[id].job.as_mut().expect("job").running = true;
        self.log_unit(id, &format!("Reloading {}…", self.units[id].name));
        self.set_state(id, SubState::Reload);
        let timeout = self.timeout_start(id);
        self.units[id].deadline = timeout.map(|t| Instant::now() + t);
        if notify_reload {
            // The service answers SIGHUP with RELOADING=1 … READY=1.
            if let Some(m) = &self.units[id].main {
                let _ = sys::pidfd_send_signal(m.pidfd.as_fd(), libc::SIGHUP);
            }
        } else {
            self.units[id].cmd_index = 0;
            self.run_next_control(id);
        }
        true
    }

    // ----------------------------------------------------------------------------
    // The service state machine.
    // ----------------------------------------------------------------------------

    fn set_state(&mut self, id: UnitId, state: SubState) {
        let u = &mut self.units[id];
        if u.state.active_state() != state.active_state() || u.state_since.is_none() {
            u.state_since = Some(SystemTime::now());
        }
        u.state = state;
        if state.is_stopping() || state.is_inactive() {
            u.watchdog_deadline = None;
        }
    }

    fn log_unit(&mut self, id: UnitId, text: &str) {
        log_line(text);
        self.units[id].keep_log(KeptLine {
            at_usec: now_usec(),
            pid: 0,
            text: text.into(),
        });
    }

    fn config(&self, id: UnitId) -> &herald_unit::UnitConfig {
        &self.units[id]
            .loaded
            .as_ref()
            .expect("only loaded units run")
            .config
    }

    fn timeout_start(&self, id: UnitId) -> Option<Duration> {
        self.config(id).timeout_start
    }

    fn timeout_stop(&self, id: UnitId) -> Option<Duration> {
        self.config(id).timeout_stop
    }

    fn begin_start(&mut self, id: UnitId) {
        let u = &mut self.units[id];
        u.result = RunResult::Success;
        u.failure = None;
        u.status_text = None;
        u.errno = None;
        u.exec_failure = None;
        u.main_exit = None;
        u.ready_after = None;
        u.notify_access_override = None;
        u.stopping_notified = false;
        u.start_began = Some(Instant::now());
        u.cmd_index = 0;
        u.main_cmd = 0;
        let name = u.name.clone();
        self.log_unit(id, &format!("Starting {name}…"));
        if let Err(e) = self.ensure_cgroup(id) {
            self.units[id].failure = Some(format!("cannot create its cgroup: {e}"));
            self.units[id].result = RunResult::Resources;
            self.enter_dead(id);
            return;
        }
        let timeout = self.timeout_start(id);
        self.units[id].deadline = timeout.map(|t| Instant::now() + t);
        self.set_state(id, SubState::StartPre);
        self.run_next_control(id);
    }

    /// Which command list the current state runs as control processes.
    fn control_commands(&self, id: UnitId) -> &[ExecCommand] {
        let c = self.config(id);
        match self.units[id].state {
            SubState::StartPre => &c.exec_start_pre,
            SubState::StartPost => &c.exec_start_post,
            SubState::Reload => &c.exec_reload,
            SubState::Stop => &c.exec_stop,
            SubState::StopPost => &c.exec_stop_post,
            _ => &[],
        }
    }

    /// Runs the next command of the current state's list, or moves on when done.
    fn run_next_control(&mut self, id: UnitId) {
        loop {
            let idx = self.units[id].cmd_index;
            let cmds = self.control_commands(id);
            let Some(cmd) = cmds.get(idx).cloned() else {
                self.control_list_done(id);
                return;
            };
            self.units[id].cmd_index += 1;
            match self.spawn_command(id, &cmd, Role::Control) {
                Ok(()) => return,
                Err(e) if cmd.ignore_failure => {
                    self.log_unit(id, &format!("{}: {e} (ignored)", self.units[id].name));
                }
                Err(e) => {
                    self.units[id].failure = Some(e);
                    self.units[id].result = RunResult::Resources;
                    self.control_list_failed(id);
                    return;
                }
            }
        }
    }

    /// Leaves the reload state: back to running (or exited, without a main process).
    fn end_reload(&mut self, id: UnitId) {
        let state = if self.units[id].main.is_some() {
            SubState::Running
        } else {
            SubState::Exited
        };
        self.set_state(id, state);
        self.units[id].deadline = None;
    }

    /// The current state's control commands all succeeded.
    fn control_list_done(&mut self, id: UnitId) {
        match self.units[id].state {
            SubState::StartPre => self.enter_start(id),
            SubState::StartPost => self.enter_running(id),
            SubState::Reload => {
                self.end_reload(id);
                self.log_unit(id, &format!("Reloaded {}", self.units[id].name));
                self.job_done(id, "done", None);
            }
            SubState::Stop => self.enter_stop_sigterm(id),
            SubState::StopPost => self.enter_dead(id),
            _ => {}
        }
    }

    /// A control command failed (and was not `-`-prefixed).
    fn control_list_failed(&mut self, id: UnitId) {
        match self.units[id].state {
            SubState::StartPre | SubState::StartPost => self.begin_stop(id, self.units[id].result),
            SubState::Reload => {
                // A failed reload leaves the service running, as systemd does.
                self.end_reload(id);
                let reason = self.units[id].failure.take();
                self.units[id].result = RunResult::Success;
                self.job_done(id, "failed", reason);
            }
            SubState::Stop => self.enter_stop_sigterm(id),
            SubState::StopPost => self.enter_dead(id),
            _ => {}
        }
    }

    fn enter_start(&mut self, id: UnitId) {
        self.set_state(id, SubState::Start);
        let cfg = self.config(id);
        let ty = cfg.service_type;
        let Some(cmd) = cfg.exec_start.get(self.units[id].main_cmd).cloned() else {
            // A oneshot without ExecStart= (only ExecStop=/RemainAfterExit=).
            self.enter_start_post(id);
            return;
        };
        if let Err(e) = self.spawn_command(id, &cmd, Role::Main) {
            self.units[id].failure = Some(e);
            self.units[id].result = RunResult::Resources;
            self.begin_stop(id, RunResult::Resources);
            return;
        }
        if ty == ServiceType::Simple {
            // Started as soon as it is forked.
            self.enter_start_post(id);
        }
        // exec: the exec report; notify: READY=1; oneshot: a clean exit.
    }

    fn enter_start_post(&mut self, id: UnitId) {
        let u = &mut self.units[id];
        if u.ready_after.is_none() {
            u.ready_after = u.start_began.map(|t| t.elapsed());
        }
        u.cmd_index = 0;
        self.set_state(id, SubState::StartPost);
        self.run_next_control(id);
    }

    fn enter_running(&mut self, id: UnitId) {
        let ty = self.service_type(id);
        let remain = self.config(id).remain_after_exit;
        self.units[id].deadline = None;
        let name = self.units[id].name.clone();
        let ready = self.units[id]
            .ready_after
            .map(format_duration)
            .unwrap_or_default();
        if self.units[id].main.is_some() {
            self.set_state(id, SubState::Running);
        } else if remain || ty != ServiceType::Oneshot {
            self.set_state(id, SubState::Exited);
        } else {
            // A oneshot without RemainAfterExit= has done its work: started, and down.
            self.log_unit(id, &format!("Finished {name} (in {ready})"));
            self.set_state(id, SubState::Dead);
            self.job_done(id, "done", None);
            self.release_cgroup(id);
            return;
        }
        self.log_unit(id, &format!("Started {name} (ready in {ready})"));
        if self.units[id]
            .job
            .as_ref()
            .is_some_and(|j| matches!(j.kind, JobKind::Start | JobKind::Restart))
        {
            self.job_done(id, "done", None);
        }
    }

    /// Begins stopping: `ExecStop=` if the service is up, then signals. `result` is kept
    /// as the run's result when it is a failure.
    fn begin_stop(&mut self, id: UnitId, result: RunResult) {
        if result != RunResult::Success {
            self.units[id].result = result;
        }
        let timeout = self.timeout_stop(id);
        self.units[id].deadline = timeout.map(|t| Instant::now() + t);
        let was_up = matches!(
            self.units[id].state,
            SubState::Running | SubState::Exited | SubState::Reload
        );
        // A control process of the previous state is no longer wanted.
        if let Some(c) = &self.units[id].control {
            let _ = sys::pidfd_send_signal(c.pidfd.as_fd(), libc::SIGTERM);
        }
        if was_up && self.units[id].control.is_none() && !self.config(id).exec_stop.is_empty() {
            self.units[id].cmd_index = 0;
            self.set_state(id, SubState::Stop);
            self.run_next_control(id);
        } else {
            self.enter_stop_sigterm(id);
        }
    }

    fn enter_stop_sigterm(&mut self, id: UnitId) {
        self.set_state(id, SubState::StopSigterm);
        let signal = self.config(id).kill_signal.number();
        self.kill_unit(id, signal, false);
        self.check_stopped(id);
    }

    fn enter_stop_sigkill(&mut self, id: UnitId) {
        self.set_state(id, SubState::StopSigkill);
        let timeout = self.timeout_stop(id);
        self.units[id].deadline = timeout.map(|t| Instant::now() + t);
        self.kill_unit(id, libc::SIGKILL, true);
        self.check_stopped(id);
    }

    /// Sends `signal` per `KillMode=`; `all` forces every process (the final SIGKILL).
    fn kill_unit(&mut self, id: UnitId, signal: i32, all: bool) {
        let mode = self.config(id).kill_mode;
        let u = &self.units[id];
        let mut signaled_main = false;
        if let Some(m) = &u.main {
            if mode != KillMode::None || all {
                let _ = sys::pidfd_send_signal(m.pidfd.as_fd(), signal);
                signaled_main = true;
            }
        }
        if let Some(c) = &u.control {
            let _ = sys::pidfd_send_signal(c.pidfd.as_fd(), signal);
        }
        let whole_group = all || mode == KillMode::ControlGroup;
        if !whole_group {
            return;
        }
        match &u.cgroup {
            Some(cg) if signal == libc::SIGKILL => {
                let _ = cg.kill();
            }
            Some(cg) => {
                // The main and control processes were signalled through their pidfds.
                let skip: Vec<i32> = u
                    .main
                    .iter()
                    .chain(u.control.iter())
                    .map(|p| p.pid)
                    .collect();
                for pid in cg
                    .pids()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|p| !skip.contains(p))
                {
                    let _ = rustix::process::kill_process(
                        rustix::process::Pid::from_raw(pid).expect("cgroup pids are positive"),
                        rustix::process::Signal::from_named_raw(signal)
                            .unwrap_or(rustix::process::Signal::TERM),
                    );
                    if signal != libc::SIGKILL {
                        let _ = rustix::process::kill_process(
                            rustix::process::Pid::from_raw(pid).expect("positive"),
                            rustix::process::Signal::CONT,
                        );
                    }
                }
            }
            None => {
                // Without cgroups: the process groups the manager created (each service
                // process leads its own session).
                let leaders: Vec<i32> = u
                    .main
                    .iter()
                    .chain(u.control.iter())
                    .map(|p| p.pid)
                    .collect();
                for pid in leaders {
                    if let (Some(p), Some(s)) = (
                        rustix::process::Pid::from_raw(pid),
                        rustix::process::Signal::from_named_raw(signal),
                    ) {
                        let _ = rustix::process::kill_process_group(p, s);
                    }
                }
            }
        }
        let _ = signaled_main;
    }

    /// Moves on once the main and control processes are gone and the cgroup is empty.
    fn check_stopped(&mut self, id: UnitId) {
        let u = &self.units[id];
        if !matches!(u.state, SubState::StopSigterm | SubState::StopSigkill) {
            return;
        }
        if u.main.is_some() || u.control.is_some() {
            return;
        }
        if let Some(cg) = &u.cgroup {
            if cg.is_populated().unwrap_or(false) {
                if u.cgroup_watch.is_none() {
                    let events = cg.cgroup().path().join("cgroup.events");
                    if let Ok(f) = std::fs::File::open(&events) {
                        let fd = OwnedFd::from(f);
                        if let Ok(t) = self.add_source(
                            Source::CgroupEvents { unit: id, fd },
                            epoll::EventFlags::PRI,
                        ) {
                            self.units[id].cgroup_watch = Some(t);
                        }
                    }
                    // Emptied between the check and the watch: look again.
                    if !self.units[id]
                        .cgroup
                        .as_ref()
                        .is_some_and(|c| c.is_populated().unwrap_or(false))
                    {
                        self.check_stopped(id);
                    }
                }
                return;
            }
        }
        if let Some(t) = self.units[id].cgroup_watch.take() {
            self.remove_source(t);
        }
        self.units[id].cmd_index = 0;
        self.set_state(id, SubState::StopPost);
        self.run_next_control(id);
    }

    fn enter_dead(&mut self, id: UnitId) {
        let u = &mut self.units[id];
        u.deadline = None;
        let failed = u.result != RunResult::Success;
        let name = u.name.clone();
        let restart = !failed || u.result != RunResult::Dependency;
        self.set_state(
            id,
            if failed {
                SubState::Failed
            } else {
                SubState::Dead
            },
        );
        self.release_cgroup(id);
        let job = self.units[id].job.as_ref().map(|j| j.kind);
        match job {
            Some(JobKind::Start) | Some(JobKind::Restart)
                if self.units[id].job.as_ref().is_some_and(|j| j.running)
                    && !self.units[id].restart_after_stop =>
            {
                let reason = self.units[id]
                    .failure
                    .clone()
                    .unwrap_or_else(|| "stopped before it was ready".into());
                log_line(&format!("Failed {name}: {reason}"));
                self.job_done(id, "failed", Some(reason));
                // The start job failed; Restart= still applies, as in systemd.
                if restart && !self.shutting_down && self.should_restart(id) {
                    self.schedule_restart(id);
                    return;
                }
            }
            Some(JobKind::Stop) | Some(JobKind::Restart)
                if self.units[id].job.as_ref().is_some_and(|j| j.running) =>
            {
                if failed {
                    let reason = self.units[id].failure.clone().unwrap_or_default();
                    log_line(&format!("Stopped {name} (failed: {reason})"));
                } else {
                    log_line(&format!("Stopped {name}"));
                }
                self.stop_finished(id);
                return;
            }
            _ => {
                if failed {
                    let reason = self.units[id].failure.clone().unwrap_or_default();
                    log_line(&format!("Failed {name}: {reason}"));
                } else {
                    log_line(&format!("{name} finished"));
                }
                if restart && !self.shutting_down && self.should_restart(id) {
                    self.schedule_restart(id);
                    return;
                }
            }
        }
        // Down for good (no restart follows): the fd store goes, as in systemd.
        self.units[id].fd_store.clear();
        // Units bound to it go down with it.
        let bound: Vec<UnitId> = self.units[id].links().bound_by.clone();
        for b in bound {
            if !self.units[b].state.is_inactive() && !self.has_job(b, JobKind::Stop) {
                self.log_unit(
                    b,
                    &format!(
                        "Stopping {}: bound to {name}, which stopped",
                        self.units[b].name
                    ),
                );
                self.enqueue(b, JobKind::Stop, None);
            }
        }
    }

    fn stop_finished(&mut self, id: UnitId) {
        let restart = std::mem::take(&mut self.units[id].restart_after_stop);
        if restart && !self.shutting_down {
            let waiters = self.units[id]
                .job
                .take()
                .map(|j| j.waiters)
                .unwrap_or_default();
            self.units[id].job = Some(Job {
                kind: JobKind::Start,
                running: false,
                waiters,
            });
            // Start also what it requires, as a fresh start job does.
            let deps: Vec<UnitId> = {
                let u = &self.units[id];
                u.links()
                    .requires
                    .iter()
                    .chain(&u.links().binds_to)
                    .chain(&u.links().wants)
                    .copied()
                    .collect()
            };
            for d in deps {
                if self.units[d].job.is_none() && !self.units[d].state.is_active() {
                    self.enqueue(d, JobKind::Start, None);
                }
            }
        } else {
            self.units[id].fd_store.clear();
            self.job_done(id, "done", None);
        }
    }

    fn should_restart(&self, id: UnitId) -> bool {
        let Some(l) = &self.units[id].loaded else {
            return false;
        };
        let r = self.units[id].result;
        let clean = r == RunResult::Success;
        match l.config.restart {
            Restart::No => false,
            Restart::Always => true,
            Restart::OnSuccess => clean,
            Restart::OnFailure => !clean,
            Restart::OnAbnormal => matches!(
                r,
                RunResult::Signal | RunResult::CoreDump | RunResult::Timeout | RunResult::Watchdog
            ),
            Restart::OnWatchdog => r == RunResult::Watchdog,
            Restart::OnAbort => matches!(r, RunResult::Signal | RunResult::CoreDump),
        }
    }

    fn schedule_restart(&mut self, id: UnitId) {
        let cfg = self.config(id);
        let delay = cfg.restart_sec.unwrap_or(herald_unit::DEFAULT_RESTART_SEC);
        let burst = cfg.start_limit_burst;
        self.units[id].restarts += 1;
        if burst > 0 && self.units[id].restarts > burst {
            self.units[id].result = RunResult::Resources;
            self.units[id].failure =
                Some(format!("restarted too often ({burst} times); giving up"));
            self.set_state(id, SubState::Failed);
            log_line(&format!(
                "Failed {}: restarted too often",
                self.units[id].name
            ));
            return;
        }
        self.set_state(id, SubState::AutoRestart);
        self.units[id].deadline = Some(Instant::now() + delay);
        log_line(&format!(
            "Scheduling restart of {} in {}",
            self.units[id].name,
            format_duration(delay)
        ));
    }

    fn service_type(&self, id: UnitId) -> ServiceType {
        self.units[id].service_type()
    }

    // ----------------------------------------------------------------------------
    // Processes.
    // ----------------------------------------------------------------------------

    fn ensure_cgroup(&mut self, id: UnitId) -> Result<(), String> {
        let Some(cgs) = &self.cgroups else {
            return Ok(());
        };
        if self.units[id].cgroup.is_some() {
            return Ok(());
        }
        let cg = cgs
            .service(&self.units[id].name)
            .map_err(|e| e.to_string())?;
        self.cgroup_ids.insert(cg.id(), id);
        self.units[id].cgroup = Some(cg);
        Ok(())
    }

    fn release_cgroup(&mut self, id: UnitId) {
        if let Some(t) = self.units[id].cgroup_watch.take() {
            self.remove_source(t);
        }
        if let Some(cg) = self.units[id].cgroup.take() {
            self.cgroup_ids.remove(&cg.id());
            if cg.is_populated().unwrap_or(false) {
                // Processes that outlived every signal: keep the cgroup so they stay
                // attributed, and say so.
                log_line(&format!(
                    "herald: {}: processes remain in its cgroup",
                    self.units[id].name
                ));
                self.cgroup_ids.insert(cg.id(), id);
                self.units[id].cgroup = Some(cg);
            } else if let Err(e) = cg.remove() {
                log_line(&format!(
                    "herald: {}: cannot remove its cgroup: {e}",
                    self.units[id].name
                ));
            }
        }
    }

    /// The environment of a unit's processes: a base like systemd's, the manager's
    /// variables, then `Environment=` and `EnvironmentFile=`.
    fn environment(
        &self,
        id: UnitId,
        account: Option<&users::Account>,
    ) -> Result<Vec<(String, String)>, String> {
        let u = &self.units[id];
        let cfg = self.config(id);
        let mut env: Vec<(String, String)> = vec![("PATH".into(), DEFAULT_PATH.into())];
        if let Ok(lang) = std::env::var("LANG") {
            env.push(("LANG".into(), lang));
        }
        if let Some(a) = account {
            env.push(("HOME".into(), a.home.clone()));
            env.push(("USER".into(), a.name.clone()));
            env.push(("LOGNAME".into(), a.name.clone()));
            env.push(("SHELL".into(), a.shell.clone()));
        }
        if u.notify_access() != NotifyAccess::None {
            env.push((
                "NOTIFY_SOCKET".into(),
                self.notify_path.display().to_string(),
            ));
        }
        env.push(("MANAGERPID".into(), self.own_pid.to_string()));
        if let Some(exe) = &self.herald_exe {
            // The herald binary itself, so scripts can run `$HERALD notify`.
            env.push(("HERALD".into(), exe.clone()));
        }
        if let Some(m) = &u.main {
            env.push(("MAINPID".into(), m.pid.to_string()));
        } else {
            // For the main process (the only one spawned without a main PID known);
            // WATCHDOG_PID and LISTEN_PID, its own PID, are filled in by the child.
            if let Some(w) = cfg.watchdog {
                env.push(("WATCHDOG_USEC".into(), w.as_micros().to_string()));
            }
            if !u.fd_store.is_empty() {
                env.push(("LISTEN_FDS".into(), u.fd_store.len().to_string()));
                let names: Vec<&str> = u.fd_store.iter().map(|(_, n)| &**n).collect();
                env.push(("LISTEN_FDNAMES".into(), names.join(":")));
            }
        }
        let set = |env: &mut Vec<(String, String)>, k: String, v: String| match env
            .iter_mut()
            .find(|(n, _)| *n == k)
        {
            Some(slot) => slot.1 = v,
            None => env.push((k, v)),
        };
        for (k, v) in &cfg.environment {
            set(&mut env, k.clone(), v.clone());
        }
        for f in &cfg.environment_files {
            match herald_unit::read_environment_file(&f.path) {
                Ok(file) => {
                    for (k, v) in file.vars {
                        set(&mut env, k, v);
                    }
                }
                Err(_) if f.optional => {}
                Err(e) => return Err(format!("EnvironmentFile={}: {e}", f.path.display())),
            }
        }
        Ok(env)
    }

    /// Spawns one command of a unit, in its cgroup, with its output piped to the log.
    fn spawn_command(&mut self, id: UnitId, cmd: &ExecCommand, role: Role) -> Result<(), String> {
        // Only the settings needed here are copied (not the whole configuration).
        let (user, group, working_directory, watchdog) = {
            let cfg = self.config(id);
            (
                cfg.user.clone(),
                cfg.group.clone(),
                cfg.working_directory.clone(),
                cfg.watchdog.is_some(),
            )
        };
        let account = match &user {
            Some(user) => {
                Some(users::find_user(user).ok_or_else(|| format!("User={user}: no such user"))?)
            }
            None => None,
        };
        let gid = match &group {
            Some(g) => {
                Some(users::find_group(g).ok_or_else(|| format!("Group={g}: no such group"))?)
            }
            None => account.as_ref().map(|a| a.gid),
        };
        let groups = match &account {
            Some(a) => users::groups_of(&a.name, gid.unwrap_or(a.gid)),
            None => gid.map(|g| vec![g]).unwrap_or_default(),
        };
        let env = self.environment(id, account.as_ref())?;
        let argv = if cmd.no_env_expand {
            cmd.argv.clone()
        } else {
            herald_unit::expand_command(cmd, &env)
        };
        let cwd = match &working_directory {
            None => None,
            Some(wd) => {
                let path = match &wd.path {
                    herald_unit::WorkingPath::Home => PathBuf::from(
                        account
                            .as_ref()
                            .map_or(self.ctx.home.clone(), |a| a.home.clone()),
                    ),
                    herald_unit::WorkingPath::Path(p) => p.clone(),
                };
                if wd.missing_ok && !path.is_dir() {
                    None
                } else {
                    Some(
                        CString::new(path.as_os_str().as_bytes())
                            .map_err(|_| "WorkingDirectory= contains NUL".to_string())?,
                    )
                }
            }
        };
        let cstr = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
        let program = cstr(&cmd.path)?;
        let argv_c = argv
            .iter()
            .map(|a| cstr(a))
            .collect::<Result<Vec<_>, _>>()?;
        let env_c = env
            .iter()
            .map(|(k, v)| cstr(&format!("{k}={v}")))
            .collect::<Result<Vec<_>, _>>()?;
        let (out_r, out_w) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )
        .map_err(|e| format!("pipe: {e}"))?;
        // The child's end must block (a service expects a normal stdout).
        rustix::fs::fcntl_setfl(&out_w, rustix::fs::OFlags::empty())
            .map_err(|e| format!("fcntl: {e}"))?;
        let err_w = rustix::io::fcntl_dupfd_cloexec(&out_w, 3).map_err(|e| format!("dup: {e}"))?;
        let req = SpawnRequest {
            program,
            argv: argv_c,
            env: env_c,
            cwd,
            uid: account.as_ref().map(|a| a.uid),
            gid,
            supplementary_groups: if account.is_some() || gid.is_some() {
                groups
            } else {
                Vec::new()
            },
            stdin: None,
            stdout: Some(out_w),
            stderr: Some(err_w),
            cgroup: self.units[id].cgroup.as_ref().map(|c| c.dir_fd()),
            env_own_pid: [
                (role == Role::Main && watchdog).then_some("WATCHDOG_PID"),
                (role == Role::Main && !self.units[id].fd_store.is_empty()).then_some("LISTEN_PID"),
            ]
            .into_iter()
            .flatten()
            .collect(),
            // The fd store goes back to the next main process, as systemd's does.
            pass_fds: if role == Role::Main {
                self.units[id]
                    .fd_store
                    .iter()
                    .map(|(fd, _)| fd.as_fd())
                    .collect()
            } else {
                Vec::new()
            },
        };
        let spawned = spawn::spawn(req).map_err(|e| format!("{}: {e}", cmd.path))?;
        let pid = spawned.pid;
        let inode = sys::pidfs_inode(spawned.pidfd.as_fd()).ok();
        let proc_ = Proc {
            pid,
            pidfd: spawned.pidfd,
            inode,
            adopted: false,
        };
        self.procs.insert(
            pid,
            ProcEntry {
                unit: id,
                role,
                child: true,
            },
        );
        match role {
            Role::Main => {
                if let Some(old) = self.units[id].main.replace(proc_) {
                    self.retire_main(id, old);
                }
                let interval = self.config(id).watchdog;
                let u = &mut self.units[id];
                u.watchdog = interval;
                u.watchdog_deadline = interval.map(|w| Instant::now() + w);
            }
            Role::Control | Role::Former => self.units[id].control = Some(proc_),
        }
        let _ = rustix::fs::fcntl_setfl(&spawned.exec_report, rustix::fs::OFlags::NONBLOCK);
        let _ = self.add_source(
            Source::ExecReport {
                unit: id,
                pid,
                fd: spawned.exec_report,
            },
            epoll::EventFlags::IN,
        );
        let _ = self.add_source(
            Source::Output {
                unit: id,
                pid,
                fd: out_r,
                partial: Vec::new(),
            },
            epoll::EventFlags::IN,
        );
        Ok(())
    }

    /// A main process replaced through `MAINPID=`: still reaped, no longer main.
    fn retire_main(&mut self, id: UnitId, old: Proc) {
        if let Some(e) = self.procs.get_mut(&old.pid) {
            if e.unit == id && e.role == Role::Main {
                e.role = Role::Former;
            }
        }
        if old.adopted {
            let token = self.sources.iter().find_map(|(t, s)| {
                matches!(s, Source::AdoptedMain { unit, pid } if *unit == id && *pid == old.pid)
                    .then_some(*t)
            });
            if let Some(t) = token {
                let _ = epoll::delete(&self.epoll, &old.pidfd);
                self.sources.remove(&t);
            }
        }
    }

    /// Reaps every exited child. Notifications are drained first, so that a message a
    /// process sent just before exiting is attributed while it is still our child.
    fn reap_children(&mut self) {
        self.drain_notify(false);
        loop {
            match rustix::process::wait(rustix::process::WaitOptions::NOHANG) {
                Ok(Some((pid, status))) => {
                    let pid = pid.as_raw_nonzero().get();
                    let raw = status.as_raw();
                    let st = if raw & 0x7f == 0 {
                        ExitStatus::Exited((raw >> 8) & 0xff)
                    } else {
                        ExitStatus::Signaled {
                            signal: raw & 0x7f,
                            core_dumped: raw & 0x80 != 0,
                        }
                    };
                    self.process_exited(pid, st);
                }
                Ok(None) => break,
                Err(rustix::io::Errno::CHILD) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    log_line(&format!("herald: waitpid: {e}"));
                    break;
                }
            }
        }
    }

    fn process_exited(&mut self, pid: i32, status: ExitStatus) {
        let Some(entry) = self.procs.remove(&pid) else {
            // An orphan reparented to us (we are a subreaper): reaped, nothing more.
            return;
        };
        let id = entry.unit;
        match entry.role {
            Role::Main if self.units[id].main.as_ref().is_some_and(|m| m.pid == pid) => {
                let m = self.units[id].main.take().expect("main");
                if m.adopted {
                    self.retire_main_source(id, &m);
                }
                self.main_exited(id, status);
            }
            Role::Control
                if self.units[id]
                    .control
                    .as_ref()
                    .is_some_and(|c| c.pid == pid) =>
            {
                self.units[id].control = None;
                self.control_exited(id, status);
            }
            _ => {
                // A former main process.
                self.check_stopped(id);
            }
        }
    }

    fn retire_main_source(&mut self, id: UnitId, m: &Proc) {
        let token = self.sources.iter().find_map(|(t, s)| {
            matches!(s, Source::AdoptedMain { unit, pid } if *unit == id && *pid == m.pid)
                .then_some(*t)
        });
        if let Some(t) = token {
            let _ = epoll::delete(&self.epoll, &m.pidfd);
            self.sources.remove(&t);
        }
    }

    fn main_exited(&mut self, id: UnitId, status: ExitStatus) {
        let name = self.units[id].name.clone();
        self.units[id].main_exit = Some(status);
        self.units[id].watchdog_deadline = None;
        let (result, how) = describe_exit(status);
        let ignore = self.units[id].state == SubState::Start && {
            let idx = self.units[id].main_cmd;
            self.config(id)
                .exec_start
                .get(idx)
                .is_some_and(|c| c.ignore_failure)
        };
        let result = if ignore { RunResult::Success } else { result };
        let exec_failure = self.units[id].exec_failure.take();
        let why = |how: &str| match &exec_failure {
            Some(f) => format!("main process {f}"),
            None => format!("main process {how}"),
        };
        let ty = self.service_type(id);
        match self.units[id].state {
            SubState::Start => match ty {
                ServiceType::Oneshot if result == RunResult::Success => {
                    // The next ExecStart= of a oneshot, or on to ExecStartPost=.
                    self.units[id].main_cmd += 1;
                    let n = self.config(id).exec_start.len();
                    if self.units[id].main_cmd < n {
                        self.enter_start(id);
                    } else {
                        self.enter_start_post(id);
                    }
                }
                ServiceType::Notify | ServiceType::NotifyReload if result == RunResult::Success => {
                    self.units[id].failure =
                        Some("main process exited before sending READY=1".into());
                    self.begin_stop(id, RunResult::Protocol);
                }
                _ => {
                    let result = if result == RunResult::Success {
                        RunResult::Protocol
                    } else {
                        result
                    };
                    self.units[id].failure = Some(why(&how));
                    self.begin_stop(id, result);
                }
            },
            SubState::StartPost | SubState::Running | SubState::Reload => {
                let remain = self.config(id).remain_after_exit;
                if result == RunResult::Success && remain {
                    self.set_state(id, SubState::Exited);
                } else {
                    if result != RunResult::Success {
                        self.units[id].failure = Some(why(&how));
                    } else {
                        log_line(&format!("{name}: main process exited successfully"));
                    }
                    let was_starting = self.units[id].state == SubState::StartPost;
                    if was_starting && result != RunResult::Success {
                        self.begin_stop(id, result);
                    } else {
                        self.begin_stop_after_exit(id, result);
                    }
                }
            }
            SubState::Stop => {
                // After STOPPING=1 the exit is the stop; during ExecStop= the stop
                // continues when ExecStop= is done.
                if result != RunResult::Success && self.units[id].stopping_notified {
                    self.units[id].result = result;
                    self.units[id].failure = Some(why(&how));
                }
                if self.units[id].control.is_none() {
                    self.enter_stop_sigterm(id);
                }
            }
            SubState::StopSigterm | SubState::StopSigkill => self.check_stopped(id),
            _ => {}
        }
    }

    /// The main process ended on its own: clean up the rest of the cgroup.
    fn begin_stop_after_exit(&mut self, id: UnitId, result: RunResult) {
        if result != RunResult::Success {
            self.units[id].result = result;
        }
        let timeout = self.timeout_stop(id);
        self.units[id].deadline = timeout.map(|t| Instant::now() + t);
        if let Some(c) = &self.units[id].control {
            let _ = sys::pidfd_send_signal(c.pidfd.as_fd(), libc::SIGTERM);
        }
        self.enter_stop_sigterm(id);
    }

    fn control_exited(&mut self, id: UnitId, status: ExitStatus) {
        let (result, how) = describe_exit(status);
        let state = self.units[id].state;
        let idx = self.units[id].cmd_index.saturating_sub(1);
        let cmd = self.control_commands(id).get(idx).cloned();
        let ignore = cmd.as_ref().is_some_and(|c| c.ignore_failure);
        let exec_failure = self.units[id].exec_failure.take();
        if matches!(state, SubState::StopSigterm | SubState::StopSigkill) {
            self.check_stopped(id);
            return;
        }
        if result == RunResult::Success || ignore {
            self.run_next_control(id);
        } else {
            let which = match state {
                SubState::StartPre => "ExecStartPre=",
                SubState::StartPost => "ExecStartPost=",
                SubState::Reload => "ExecReload=",
                SubState::Stop => "ExecStop=",
                SubState::StopPost => "ExecStopPost=",
                _ => "control process",
            };
            let what = cmd.map(|c| c.path).unwrap_or_default();
            let detail = exec_failure.unwrap_or(how);
            self.units[id].failure = Some(format!("{which}{what} {detail}"));
            if matches!(state, SubState::StartPre | SubState::StartPost) {
                self.units[id].result = result;
            }
            self.control_list_failed(id);
        }
    }

    // ----------------------------------------------------------------------------
    // Notifications.
    // ----------------------------------------------------------------------------

    /// Handles queued notifications. `until_barrier`: return right after answering a
    /// barrier — its sender is waiting, and if more is queued epoll reports it again at
    /// once; this saves the barrier's round trip a syscall. Reaping passes `false`: every
    /// message must be handled while its sender is still unreaped.
    fn drain_notify(&mut self, until_barrier: bool) {
        let Some(mut receiver) = self.receiver.take() else {
            return;
        };
        for _ in 0..NOTIFY_BUDGET {
            let procs = &self.procs;
            let next = receiver.next(|pid| !procs.get(&pid).is_some_and(|e| e.child));
            match next {
                Ok(Some(Incoming::Barrier { .. })) if until_barrier => break,
                Ok(Some(incoming)) => self.handle_incoming(incoming),
                Ok(None) => break,
                Err(e) => {
                    log_line(&format!("herald: receiving a notification failed: {e}"));
                    break;
                }
            }
        }
        self.receiver = Some(receiver);
    }

    fn handle_incoming(&mut self, incoming: Incoming<'_>) {
        match incoming {
            Incoming::Barrier { .. } => {}
            Incoming::Rejected {
                sender,
                reason,
                payload,
            } => {
                let pid = sender.as_ref().map_or(0, |s| s.creds.pid);
                let unit = sender.as_ref().and_then(|s| self.attribute(s));
                match unit {
                    Some(id) => {
                        let text = format!("dropped notification from PID {pid}: {reason}");
                        self.log_refusal(Some(id), &text);
                        self.units[id].reject(pid, reason, payload);
                    }
                    None => self.log_refusal(
                        None,
                        &format!("dropped notification from PID {pid}: {reason}"),
                    ),
                }
            }
            Incoming::Message {
                payload,
                sender,
                fds,
            } => {
                let pid = sender.creds.pid;
                if pid == self.own_pid {
                    log_line("herald: dropped a notification the manager sent to itself");
                    fds.clear();
                    return;
                }
                let Some(id) = self.attribute(&sender) else {
                    self.log_refusal(
                        None,
                        &format!("cannot find the unit of PID {pid}; notification dropped"),
                    );
                    fds.clear();
                    return;
                };
                if let Err(reason) = self.authorized(id, &sender) {
                    self.log_refusal(
                        Some(id),
                        &format!("refused notification from PID {pid}: {reason}"),
                    );
                    self.units[id].reject(pid, reason, payload);
                    fds.clear();
                    return;
                }
                self.units[id].accepted += 1;
                self.apply_message(id, payload, &sender, fds);
            }
        }
    }

    /// Logs a refused or dropped notification — the first 100 per unit (or without a
    /// unit), then only at powers of two with a count, so a flood of bad messages cannot
    /// flood the log. Every refusal is still counted and the last ones kept for
    /// `ctl status`.
    fn log_refusal(&mut self, unit: Option<UnitId>, text: &str) {
        let count = match unit {
            Some(id) => {
                self.units[id].refusals += 1;
                self.units[id].refusals
            }
            None => {
                self.unattributed_logged += 1;
                self.unattributed_logged
            }
        };
        if count <= 100 || count.is_power_of_two() {
            let prefix = unit.map_or_else(String::new, |id| format!("{}: ", self.units[id].name));
            let tally = if count > 100 {
                format!(" ({count} so far)")
            } else {
                String::new()
            };
            log_line(&format!("herald: {prefix}{text}{tally}"));
        }
    }

    /// Which unit a sender belongs to.
    fn attribute(&self, sender: &Sender) -> Option<UnitId> {
        let pid = sender.creds.pid;
        if let Some(e) = self.procs.get(&pid) {
            if e.child {
                return Some(e.unit);
            }
        }
        if self.cgroups.is_some() {
            if let Some(pidfd) = &sender.pidfd {
                match sys::pidfd_cgroup_id(pidfd.as_fd()) {
                    Ok(cg) => return self.cgroup_ids.get(&cg).copied(),
                    Err(sys::PidfdInfoError::Unsupported(_)) => {}
                    Err(_) => return None,
                }
            }
            // Kernels without PIDFD_GET_INFO: the process's cgroup path while it lives.
            let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
            let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
            // (A linear search: this is only for kernels without PIDFD_GET_INFO.)
            return self.units.iter().position(|u| {
                u.cgroup
                    .as_ref()
                    .is_some_and(|c| c.cgroup().cgroup_path() == Path::new(path))
            });
        }
        // Without cgroups: walk up the process tree to a process we started.
        let mut p = pid;
        for _ in 0..64 {
            if let Some(e) = self.procs.get(&p) {
                return Some(e.unit);
            }
            let (ppid, _) = proc_stat(p)?;
            if ppid <= 1 {
                return None;
            }
            p = ppid;
        }
        None
    }

    /// `NotifyAccess=`: may this sender notify for its unit?
    fn authorized(&self, id: UnitId, sender: &Sender) -> Result<(), String> {
        let u = &self.units[id];
        let pid = sender.creds.pid;
        let same = |p: &Proc| {
            p.pid == pid
                && match (&sender.pidfd, p.inode) {
                    (Some(fd), Some(inode)) => {
                        sys::pidfs_inode(fd.as_fd()).map_or(true, |i| i == inode)
                    }
                    _ => true,
                }
        };
        let is_main = u.main.as_ref().is_some_and(same);
        let is_control = u.control.as_ref().is_some_and(same);
        // Only formatted when refusing: this runs for every message.
        let main_pid = || {
            u.main
                .as_ref()
                .map_or_else(|| "none".to_string(), |m| m.pid.to_string())
        };
        match u.notify_access() {
            NotifyAccess::None => Err("NotifyAccess=none: the unit accepts no notifications".into()),
            NotifyAccess::Main if !is_main => Err(format!("NotifyAccess=main: PID {pid} is not the main process ({})", main_pid())),
            NotifyAccess::Exec if !is_main && !is_control => {
                Err(format!("NotifyAccess=exec: PID {pid} is neither the main process ({}) nor a control process", main_pid()))
            }
            _ => Ok(()),
        }
    }

    fn apply_message(
        &mut self,
        id: UnitId,
        payload: &[u8],
        sender: &Sender,
        fds: &mut Vec<OwnedFd>,
    ) {
        let pid = sender.creds.pid;
        let (mut ready, mut reloading, mut stopping) = (false, false, false);
        let mut status: Option<&str> = None;
        let mut main_pid: Option<u32> = None;
        let mut errno: Option<u32> = None;
        let mut extend: Option<u64> = None;
        let mut access: Option<NotifyAccess> = None;
        let (mut watchdog_ping, mut watchdog_trigger) = (false, false);
        let mut watchdog_usec: Option<u64> = None;
        let (mut fdstore, mut fdstore_remove) = (false, false);
        let mut fdname: Option<&str> = None;
        for line in message::lines(payload) {
            match Field::parse(line) {
                // The first occurrence of a value key wins, as in systemd.
                Ok(Field::Ready) => ready = true,
                Ok(Field::Reloading) => reloading = true,
                Ok(Field::Stopping) => stopping = true,
                Ok(Field::Status(s)) => status = status.or(Some(s)),
                Ok(Field::MainPid(p)) => main_pid = main_pid.or(Some(p)),
                Ok(Field::Errno(e)) => errno = errno.or(Some(e)),
                Ok(Field::ExtendTimeoutUsec(u)) => extend = extend.or(Some(u)),
                Ok(Field::NotifyAccess(a)) => access = access.or(Some(a)),
                Ok(Field::Watchdog) => watchdog_ping = true,
                Ok(Field::WatchdogTrigger) => watchdog_trigger = true,
                Ok(Field::WatchdogUsec(u)) => watchdog_usec = watchdog_usec.or(Some(u)),
                Ok(Field::FdStore) => fdstore = true,
                Ok(Field::FdStoreRemove) => fdstore_remove = true,
                Ok(Field::FdName(n)) => fdname = fdname.or(Some(n)),
                Ok(_) => {}
                Err(e) => {
                    let reason = format!("ignored assignment: {e}");
                    self.units[id].reject(pid, reason, line);
                }
            }
        }
        if let Some(p) = main_pid {
            if let Err(reason) = self.set_main_pid(id, p as i32, sender) {
                log_line(&format!(
                    "herald: {}: MAINPID={p} refused: {reason}",
                    self.units[id].name
                ));
                self.units[id].reject(pid, format!("MAINPID={p} refused: {reason}"), payload);
            }
        }
        if let Some(s) = status {
            // Reuse the buffer: a service may send STATUS= many times a second.
            let text = self.units[id].status_text.get_or_insert_with(String::new);
            text.clear();
            text.push_str(s);
        }
        self.apply_watchdog(id, watchdog_ping, watchdog_trigger, watchdog_usec);
        self.apply_fd_store(id, pid, payload, fds, fdstore, fdstore_remove, fdname);
        if let Some(a) = access {
            self.units[id].notify_access_override = Some(a);
        }
        if let Some(e) = errno {
            self.units[id].errno = Some(e);
        }
        if let Some(usec) = extend {
            let u = &mut self.units[id];
            if u.state.is_starting() || u.state.is_stopping() || u.state == SubState::Reload {
                let at_least = Instant::now() + Duration::from_micros(usec);
                u.deadline = Some(u.deadline.map_or(at_least, |d| d.max(at_least)));
            }
        }
        // STOPPING beats READY beats RELOADING (systemd 257).
        let state = self.units[id].state;
        let ty = self.service_type(id);
        if stopping {
            if matches!(
                state,
                SubState::Start | SubState::StartPost | SubState::Running | SubState::Reload
            ) {
                self.units[id].stopping_notified = true;
                self.log_unit(id, &format!("{} is stopping", self.units[id].name));
                let was_starting = state.is_starting();
                if was_starting {
                    self.units[id].failure =
                        Some("announced STOPPING=1 before it was ready".into());
                }
                self.set_state(id, SubState::Stop);
                let timeout = self.timeout_stop(id);
                self.units[id].deadline = timeout.map(|t| Instant::now() + t);
            }
        } else if ready {
            match state {
                SubState::Start
                    if matches!(ty, ServiceType::Notify | ServiceType::NotifyReload) =>
                {
                    self.enter_start_post(id)
                }
                SubState::Reload => {
                    self.end_reload(id);
                    self.log_unit(id, &format!("Reloaded {}", self.units[id].name));
                    if self.has_job(id, JobKind::Reload) {
                        self.job_done(id, "done", None);
                    }
                }
                _ => {}
            }
        } else if reloading && state == SubState::Running {
            self.set_state(id, SubState::Reload);
            self.log_unit(id, &format!("{} is reloading", self.units[id].name));
        }
    }

    /// `FDSTORE=1` keeps the message's fds (named by `FDNAME=`, default `stored`) up to
    /// `FileDescriptorStoreMax=`; `FDSTOREREMOVE=1` drops the stored fds named
    /// `FDNAME=`. Fds sent for any other reason, or beyond the limit, are closed and the
    /// refusal recorded.
    #[allow(clippy::too_many_arguments)]
    fn apply_fd_store(
        &mut self,
        id: UnitId,
        pid: i32,
        payload: &[u8],
        fds: &mut Vec<OwnedFd>,
        store: bool,
        remove: bool,
        name: Option<&str>,
    ) {
        if remove {
            if let Some(name) = name {
                self.units[id].fd_store.retain(|(_, n)| &**n != name);
            }
        }
        if fds.is_empty() {
            return;
        }
        let max = self.config(id).file_descriptor_store_max as usize;
        let n = fds.len();
        let reason = if !store {
            Some(format!(
                "{n} file descriptors sent without FDSTORE=1; closed them"
            ))
        } else if max == 0 {
            Some(format!(
                "{n} file descriptors for the fd store, but FileDescriptorStoreMax=0; closed them"
            ))
        } else {
            let name: Box<str> = name.unwrap_or("stored").into();
            let room = max.saturating_sub(self.units[id].fd_store.len());
            let kept = n.min(room);
            for fd in fds.drain(..kept) {
                self.units[id].fd_store.push((fd, name.clone()));
            }
            (kept < n).then(|| format!("fd store full (FileDescriptorStoreMax={max}): closed {} of {n} file descriptors", n - kept))
        };
        fds.clear();
        if let Some(reason) = reason {
            self.units[id].reject(pid, reason, payload);
        }
    }

    /// `WATCHDOG=1` (ping), `WATCHDOG=trigger` (fail now), `WATCHDOG_USEC=` (new interval,
    /// 0 turns it off), while the main process runs.
    fn apply_watchdog(&mut self, id: UnitId, ping: bool, trigger: bool, usec: Option<u64>) {
        let u = &mut self.units[id];
        if u.main.is_none() || !(u.state.is_starting() || u.state.is_active()) {
            return;
        }
        if let Some(usec) = usec {
            u.watchdog = (usec > 0).then(|| Duration::from_micros(usec));
            u.watchdog_deadline = None;
        }
        if trigger {
            self.watchdog_fired(id, "the service asked for it (WATCHDOG=trigger)");
            return;
        }
        let u = &mut self.units[id];
        if ping || usec.is_some() {
            u.watchdog_deadline = u.watchdog.map(|w| Instant::now() + w);
        }
    }

    /// The watchdog expired: SIGABRT (for a core dump), then the usual stop, as a failure.
    fn watchdog_fired(&mut self, id: UnitId, why: &str) {
        let u = &mut self.units[id];
        u.watchdog_deadline = None;
        u.result = RunResult::Watchdog;
        u.failure = Some(format!("watchdog: {why}"));
        log_line(&format!(
            "{}: watchdog timeout: {why}; sending SIGABRT",
            u.name
        ));
        let timeout = self.timeout_stop(id);
        self.units[id].deadline = timeout.map(|t| Instant::now() + t);
        self.set_state(id, SubState::StopSigterm);
        self.kill_unit(id, libc::SIGABRT, false);
        self.check_stopped(id);
    }

    /// `MAINPID=`, validated as systemd does: a live process, not the manager, not
    /// the control process, and in the unit's cgroup unless the sender is root.
    fn set_main_pid(&mut self, id: UnitId, new: i32, sender: &Sender) -> Result<(), String> {
        let state = self.units[id].state;
        if !(state.is_starting() || state.is_active() || state.is_stopping()) {
            return Err(format!("the unit is {}", state.active_state()));
        }
        if self.units[id].main.as_ref().is_some_and(|m| m.pid == new) {
            return Ok(());
        }
        if new == self.own_pid {
            return Err("it is the manager itself".into());
        }
        if self.units[id]
            .control
            .as_ref()
            .is_some_and(|c| c.pid == new)
        {
            return Err("it is the unit's control process".into());
        }
        let pidfd = sys::pidfd_open(new).map_err(|_| "no such process".to_string())?;
        if matches!(proc_stat(new), Some((_, 'Z')) | None) {
            return Err("no such process, or a zombie".into());
        }
        let in_unit = if let Some(cg) = &self.units[id].cgroup {
            sys::pidfd_cgroup_id(pidfd.as_fd()).is_ok_and(|c| c == cg.id())
        } else {
            self.ancestry_unit(new) == Some(id)
        };
        if !in_unit && sender.creds.uid != 0 {
            return Err(
                "it does not belong to the service (only root may name such a process)".into(),
            );
        }
        let child = self.procs.get(&new).is_some_and(|e| e.child);
        let inode = sys::pidfs_inode(pidfd.as_fd()).ok();
        let proc_ = Proc {
            pid: new,
            pidfd,
            inode,
            adopted: !child,
        };
        if let Some(old) = self.units[id].main.replace(proc_) {
            self.retire_main(id, old);
        }
        self.procs.insert(
            new,
            ProcEntry {
                unit: id,
                role: Role::Main,
                child,
            },
        );
        if !child {
            // Not our child: learn of its exit through its pidfd.
            let _ = self.add_source(
                Source::AdoptedMain { unit: id, pid: new },
                epoll::EventFlags::IN,
            );
        }
        self.log_unit(
            id,
            &format!("{}: main PID is now {new}", self.units[id].name),
        );
        Ok(())
    }

    fn ancestry_unit(&self, pid: i32) -> Option<UnitId> {
        let mut p = pid;
        for _ in 0..64 {
            if let Some(e) = self.procs.get(&p) {
                return Some(e.unit);
            }
            p = proc_stat(p)?.0;
            if p <= 1 {
                return None;
            }
        }
        None
    }

    // ----------------------------------------------------------------------------
    // Other event sources.
    // ----------------------------------------------------------------------------

    fn handle_source(&mut self, token: u64, flags: epoll::EventFlags) {
        let Some(source) = self.sources.get_mut(&token) else {
            return;
        };
        match source {
            Source::Output { .. } => self.read_output(token),
            Source::ExecReport { unit, pid, fd } => {
                let (id, pid) = (*unit, *pid);
                let result = spawn::read_exec_report(fd.as_fd());
                if matches!(result, Err(spawn::ExecReportError::WouldBlock)) {
                    return;
                }
                self.remove_source(token);
                match result {
                    Ok(()) => {
                        let is_main = self.units[id].main.as_ref().is_some_and(|m| m.pid == pid);
                        if is_main
                            && self.units[id].state == SubState::Start
                            && self.service_type(id) == ServiceType::Exec
                        {
                            self.enter_start_post(id);
                        }
                    }
                    Err(spawn::ExecReportError::Setup(e)) => {
                        self.units[id].exec_failure = Some(e.to_string());
                    }
                    Err(_) => {}
                }
            }
            Source::CgroupEvents { unit, .. } => {
                let id = *unit;
                if !self.units[id]
                    .cgroup
                    .as_ref()
                    .is_some_and(|c| c.is_populated().unwrap_or(false))
                {
                    if let Some(t) = self.units[id].cgroup_watch.take() {
                        self.remove_source(t);
                    }
                    self.check_stopped(id);
                }
            }
            Source::AdoptedMain { unit, pid } => {
                let (id, pid) = (*unit, *pid);
                self.remove_source(token);
                if self.units[id].main.as_ref().is_some_and(|m| m.pid == pid) {
                    let status = self.units[id]
                        .main
                        .as_ref()
                        .and_then(|m| sys::pidfd_try_wait(m.pidfd.as_fd()).ok().flatten());
                    self.procs.remove(&pid);
                    self.units[id].main = None;
                    // Not our child: its exit status is unknown unless it was
                    // reparented to us; assume a clean exit as systemd does.
                    self.main_exited(id, status.unwrap_or(ExitStatus::Exited(0)));
                }
            }
            Source::Conn(_) => self.handle_conn(token, flags),
        }
    }

    fn read_output(&mut self, token: u64) {
        let mut buf = [0u8; 8192];
        loop {
            let Some(Source::Output { fd, .. }) = self.sources.get(&token) else {
                return;
            };
            match rustix::io::read(fd, &mut buf) {
                Ok(0) => {
                    self.flush_output(token, true);
                    self.remove_source(token);
                    return;
                }
                Ok(n) => {
                    if let Some(Source::Output { partial, .. }) = self.sources.get_mut(&token) {
                        partial.extend_from_slice(&buf[..n]);
                    }
                    self.flush_output(token, false);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }

    /// Logs every complete line (and, at EOF or beyond 4 KiB, the rest).
    fn flush_output(&mut self, token: u64, eof: bool) {
        let Some(Source::Output {
            unit, pid, partial, ..
        }) = self.sources.get_mut(&token)
        else {
            return;
        };
        let (id, pid) = (*unit, *pid);
        let mut lines: Vec<String> = Vec::new();
        while let Some(nl) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=nl).collect();
            lines.push(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
        }
        if (eof && !partial.is_empty()) || partial.len() > 4096 {
            lines.push(String::from_utf8_lossy(partial).into_owned());
            partial.clear();
        }
        let name = self.units[id].name.clone();
        for text in lines {
            log_line(&format!("{name}[{pid}]: {text}"));
            self.units[id].keep_log(KeptLine {
                at_usec: now_usec(),
                pid: pid as u32,
                text: text.into_boxed_str(),
            });
        }
    }

    fn handle_timers(&mut self) {
        let now = Instant::now();
        for id in 0..self.units.len() {
            if self.units[id].watchdog_deadline.is_some_and(|w| w <= now) {
                let limit = self.units[id]
                    .watchdog
                    .map(format_duration)
                    .unwrap_or_default();
                self.watchdog_fired(id, &format!("no WATCHDOG=1 within {limit}"));
            }
        }
        for id in 0..self.units.len() {
            let Some(d) = self.units[id].deadline else {
                continue;
            };
            if d > now {
                continue;
            }
            self.units[id].deadline = None;
            let name = self.units[id].name.clone();
            match self.units[id].state {
                SubState::StartPre | SubState::Start | SubState::StartPost => {
                    let t = self
                        .timeout_start(id)
                        .map(format_duration)
                        .unwrap_or_default();
                    self.units[id].failure = Some(format!("start timeout ({t})"));
                    log_line(&format!("{name}: start timed out after {t}; stopping"));
                    self.units[id].result = RunResult::Timeout;
                    self.enter_stop_sigterm(id);
                }
                SubState::Reload => {
                    log_line(&format!("{name}: reload timed out"));
                    self.end_reload(id);
                    self.job_done(id, "timeout", Some("reload timed out".into()));
                }
                SubState::Stop => {
                    log_line(&format!(
                        "{name}: stop timed out; sending {}",
                        self.config(id).kill_signal.name()
                    ));
                    self.enter_stop_sigterm(id);
                    if self.units[id].deadline.is_none() {
                        let t = self.timeout_stop(id);
                        self.units[id].deadline = t.map(|t| Instant::now() + t);
                    }
                }
                SubState::StopSigterm => {
                    log_line(&format!(
                        "{name}: processes remain after {}; killing them",
                        self.config(id).kill_signal.name()
                    ));
                    if self.units[id].result == RunResult::Success
                        && !self.shutting_down
                        && self.units[id].job.is_none()
                    {
                        self.units[id].result = RunResult::Timeout;
                    }
                    self.enter_stop_sigkill(id);
                }
                SubState::StopSigkill => {
                    log_line(&format!(
                        "{name}: processes remain even after SIGKILL; giving up on them"
                    ));
                    self.units[id].main = None;
                    self.units[id].control = None;
                    self.set_state(id, SubState::StopPost);
                    self.units[id].cmd_index = 0;
                    self.run_next_control(id);
                }
                SubState::StopPost => self.enter_dead(id),
                SubState::AutoRestart if self.units[id].job.is_none() => {
                    self.set_state(id, SubState::Dead);
                    self.units[id].job = Some(Job {
                        kind: JobKind::Start,
                        running: true,
                        waiters: Vec::new(),
                    });
                    let restarts = self.units[id].restarts;
                    self.begin_start(id);
                    self.units[id].restarts = restarts;
                }
                _ => {}
            }
        }
    }

    fn next_timeout(&self) -> Option<Duration> {
        let next = self
            .units
            .iter()
            .flat_map(|u| [u.deadline, u.watchdog_deadline])
            .flatten()
            .min()?;
        Some(next.saturating_duration_since(Instant::now()))
    }

    // ----------------------------------------------------------------------------
    // Control connections.
    // ----------------------------------------------------------------------------

    fn accept_control(&mut self) {
        loop {
            match control::accept(&self.control) {
                Ok(Some(conn)) => {
                    let _ = self.add_source(Source::Conn(Box::new(conn)), epoll::EventFlags::IN);
                }
                Ok(None) => return,
                Err(e) => {
                    log_line(&format!("herald: control socket: {e}"));
                    return;
                }
            }
        }
    }

    fn handle_conn(&mut self, token: u64, flags: epoll::EventFlags) {
        let Some(Source::Conn(conn)) = self.sources.get_mut(&token) else {
            return;
        };
        if flags.contains(epoll::EventFlags::OUT) || conn.has_output() {
            self.flush_conn(token);
            return;
        }
        match conn.read_request() {
            Ok(None) => {}
            Ok(Some(Ok(req))) => self.handle_request(token, req),
            Ok(Some(Err(e))) => {
                conn.respond(Response::error(format!("malformed request: {e}")));
                self.flush_conn(token);
            }
            Err(_) => {
                self.remove_source(token);
            }
        }
    }

    fn flush_conn(&mut self, token: u64) {
        let Some(Source::Conn(conn)) = self.sources.get_mut(&token) else {
            return;
        };
        match conn.write_out() {
            Ok(true) => {
                self.remove_source(token);
            }
            Ok(false) => {
                if conn.has_output() && !conn.watching_out {
                    conn.watching_out = true;
                    let fd = conn.fd.as_raw_fd();
                    let _ = epoll::modify(
                        &self.epoll,
                        sys::borrow_fd(fd),
                        epoll::EventData::new_u64(token),
                        epoll::EventFlags::OUT,
                    );
                }
            }
            Err(_) => {
                self.remove_source(token);
            }
        }
    }

    fn lookup(&self, name: &str) -> Result<UnitId, String> {
        let full = herald_unit::normalize_name(name).unwrap_or_else(|_| name.to_owned());
        self.by_name
            .get(&full)
            .copied()
            .ok_or_else(|| format!("Unit {full} could not be found."))
    }

    fn processes(&self, id: UnitId) -> Vec<api::ProcessInfo> {
        let u = &self.units[id];
        let pids: Vec<u32> = match &u.cgroup {
            Some(cg) => cg
                .pids()
                .unwrap_or_default()
                .into_iter()
                .map(|p| p as u32)
                .collect(),
            None => u
                .main
                .iter()
                .chain(u.control.iter())
                .map(|p| p.pid as u32)
                .collect(),
        };
        pids.into_iter()
            .map(|pid| api::ProcessInfo {
                pid,
                command: crate::unit::command_of(pid as i32),
            })
            .collect()
    }

    fn status_of(&self, id: UnitId) -> api::UnitStatus {
        // (Not a copy of every unit's name per status: `list` asks for all of them.)
        self.units[id].status(&self.units, self.processes(id))
    }

    fn handle_request(&mut self, token: u64, req: Request) {
        let response = match req {
            Request::List => {
                let mut ids: Vec<UnitId> = (0..self.units.len())
                    .filter(|&i| self.units[i].name.ends_with(".service"))
                    .collect();
                ids.sort_by(|&a, &b| self.units[a].name.cmp(&self.units[b].name));
                Some(Response {
                    ok: true,
                    units: ids.into_iter().map(|i| self.status_of(i)).collect(),
                    ..Response::default()
                })
            }
            Request::Status { units } => {
                let mut out = Response {
                    ok: true,
                    ..Response::default()
                };
                let mut missing = Vec::new();
                for name in units {
                    match self.lookup(&name) {
                        Ok(id) => out.units.push(self.status_of(id)),
                        Err(e) => missing.push(e),
                    }
                }
                if !missing.is_empty() {
                    out.ok = false;
                    out.error = Some(missing.join("\n"));
                }
                Some(out)
            }
            Request::Logs { unit, lines } => {
                let mut logs: Vec<LogLine> = match unit {
                    Some(name) => match self.lookup(&name) {
                        Ok(id) => {
                            let u = &self.units[id];
                            u.log.iter().map(|l| l.to_api(&u.name)).collect()
                        }
                        Err(e) => {
                            self.respond(token, Response::error(e));
                            return;
                        }
                    },
                    None => self
                        .units
                        .iter()
                        .flat_map(|u| u.log.iter().map(|l| l.to_api(&u.name)))
                        .collect(),
                };
                logs.sort_by_key(|l| l.at_usec);
                let skip = logs.len().saturating_sub(lines);
                Some(Response {
                    ok: true,
                    logs: logs.split_off(skip),
                    ..Response::default()
                })
            }
            Request::Exit => {
                self.begin_shutdown();
                Some(Response {
                    ok: true,
                    ..Response::default()
                })
            }
            Request::Job {
                kind,
                units,
                no_block,
            } => {
                let mut ids = Vec::new();
                for name in &units {
                    match self.lookup(name) {
                        Ok(id) => ids.push(id),
                        Err(e) => {
                            self.respond(token, Response::error(e));
                            return;
                        }
                    }
                }
                if self.shutting_down {
                    Some(Response::error("the manager is shutting down"))
                } else if no_block {
                    let mut out = Response {
                        ok: true,
                        ..Response::default()
                    };
                    for id in ids {
                        self.enqueue(id, kind, None);
                        out.jobs.push(JobOutcome {
                            unit: self.units[id].name.clone(),
                            kind,
                            result: "queued".into(),
                            reason: None,
                        });
                    }
                    Some(out)
                } else {
                    if let Some(Source::Conn(c)) = self.sources.get_mut(&token) {
                        c.expect_jobs(ids.len());
                    }
                    for id in ids {
                        self.enqueue(id, kind, Some(token));
                    }
                    None
                }
            }
        };
        if let Some(r) = response {
            self.respond(token, r);
        }
    }

    fn respond(&mut self, token: u64, response: Response) {
        if let Some(Source::Conn(c)) = self.sources.get_mut(&token) {
            c.respond(response);
        }
        self.flush_conn(token);
    }

    // ----------------------------------------------------------------------------
    // The loop.
    // ----------------------------------------------------------------------------

    fn begin_shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        log_line("herald: stopping all units");
        for id in 0..self.units.len() {
            let u = &self.units[id];
            let queued_start = u
                .job
                .as_ref()
                .is_some_and(|j| !j.running && j.kind != JobKind::Stop);
            if queued_start {
                let job = self.units[id].job.take().expect("job");
                self.finish_waiters(
                    id,
                    job,
                    "canceled",
                    Some("the manager is shutting down".into()),
                );
            }
            if !self.units[id].state.is_inactive() {
                self.enqueue(id, JobKind::Stop, None);
            }
        }
    }

    fn all_down(&self) -> bool {
        self.units
            .iter()
            .all(|u| u.state.is_inactive() && u.job.is_none())
    }

    /// Runs until SIGTERM/SIGINT (or `ctl exit`, or `--once` finishing), then stops
    /// every unit in reverse dependency order, removes cgroups and sockets. Returns the
    /// exit code.
    pub fn run(mut self) -> i32 {
        let mut events: Vec<epoll::Event> = Vec::with_capacity(256);
        self.dispatch_jobs();
        loop {
            if self.shutting_down && self.all_down() {
                break;
            }
            let timeout = self.next_timeout().map(|d| {
                // Round up, so a deadline is never polled for before it is due.
                let ms = d.as_micros().div_ceil(1000);
                rustix::time::Timespec {
                    tv_sec: (ms / 1000) as i64,
                    tv_nsec: ((ms % 1000) * 1_000_000) as i64,
                }
            });
            events.clear();
            match epoll::wait(
                &self.epoll,
                rustix::buffer::spare_capacity(&mut events),
                timeout.as_ref(),
            ) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    log_line(&format!("herald: epoll_wait: {e}"));
                    break;
                }
            }
            let mut batch: Vec<(u64, epoll::EventFlags)> = events
                .iter()
                .map(|e| ({ e.data }.u64(), { e.flags }))
                .collect();
            // Notifications first, then signals (reaping), then the rest.
            batch.sort_by_key(|(t, _)| match *t {
                TOKEN_NOTIFY => 0,
                TOKEN_SIGNAL => 1,
                _ => 2,
            });
            for (token, flags) in batch {
                match token {
                    TOKEN_NOTIFY => self.drain_notify(true),
                    TOKEN_SIGNAL => self.handle_signals(),
                    TOKEN_CONTROL => self.accept_control(),
                    t => self.handle_source(t, flags),
                }
            }
            self.handle_timers();
            self.dispatch_jobs();
        }
        self.teardown();
        if self.once && !self.started_ok {
            1
        } else {
            0
        }
    }

    fn handle_signals(&mut self) {
        loop {
            match sys::read_signal(self.signals.as_fd()) {
                Ok(Some(libc::SIGCHLD)) => self.reap_children(),
                Ok(Some(libc::SIGTERM)) | Ok(Some(libc::SIGINT)) => {
                    if self.shutting_down {
                        log_line("herald: already stopping; send SIGKILL to abandon the units");
                    }
                    self.begin_shutdown();
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    log_line(&format!("herald: signalfd: {e}"));
                    break;
                }
            }
        }
        // SIGCHLD may coalesce with other signals; reaping is cheap when nothing exited.
        self.reap_children();
    }

    fn teardown(&mut self) {
        if let Some(cgs) = self.cgroups.take() {
            for u in &mut self.units {
                if let Some(cg) = u.cgroup.take() {
                    let _ = cg.remove();
                }
            }
            if let Err(e) = cgs.teardown(true) {
                log_line(&format!("herald: removing its cgroups: {e}"));
            }
        }
        let _ = std::fs::remove_file(&self.notify_path);
        let _ = std::fs::remove_file(&self.control_path);
        let _ = std::fs::remove_dir(&self.runtime_dir);
        log_line("herald: stopped");
    }
}

/// Reuses the configuration of an earlier unit from the same file when it came out the
/// same (template instances whose settings do not depend on the instance).
fn share_config(
    shared: &mut HashMap<PathBuf, Vec<Loaded>>,
    unit: herald_unit::LoadedUnit,
) -> Loaded {
    let same_file = shared.entry(unit.fragment_path.clone()).or_default();
    let sources: Vec<PathBuf> = unit.source_paths();
    if let Some(l) = same_file
        .iter()
        .find(|l| *l.config == unit.config && *l.sources == *sources)
    {
        return l.clone();
    }
    let l = Loaded {
        config: Arc::new(unit.config),
        sources: sources.into(),
    };
    // A handful of variants per file is plenty to look through.
    if same_file.len() < 8 {
        same_file.push(l.clone());
    }
    l
}

fn push_unique(v: &mut Vec<UnitId>, id: UnitId) {
    if !v.contains(&id) {
        v.push(id);
    }
}

fn cloexec_inherited_fds() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        let fd = sys::borrow_fd(fd);
        if let Ok(flags) = rustix::io::fcntl_getfd(fd) {
            let _ = rustix::io::fcntl_setfd(fd, flags | rustix::io::FdFlags::CLOEXEC);
        }
    }
}

fn raise_fd_limit() {
    // Every service holds a pidfd, an output pipe and a cgroup directory fd.
    let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if let Some(max) = lim.maximum {
        let _ = rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(max),
                maximum: Some(max),
            },
        );
    }
}
