//! The typed configuration of a service ([`UnitConfig`]) and the code
//! that applies parsed assignments to it, section by section, one file
//! (fragment or drop-in) after the other, then checks the result the way
//! systemd's `service_add_extras()` and `service_verify()` do.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Warning, WarningKind};
use crate::exec::{self, ExecCommand, ExecFailure};
use crate::name::UnitName;
use crate::specifier::{resolve_specifiers, SpecifierContext, SpecifierError};
use crate::syntax::{self, Event};
use crate::value::{
    self, env_name_is_valid, parse_bool, parse_timespan, KillMode, NotifyAccess, Restart,
    ServiceType, Signal,
};

/// Default of `TimeoutStartSec=` and `TimeoutStopSec=` (systemd's
/// `DefaultTimeoutStartSec=`/`DefaultTimeoutStopSec=`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);
/// Default of `RestartSec=`.
pub const DEFAULT_RESTART_SEC: Duration = Duration::from_millis(100);
/// Default of `StartLimitIntervalSec=`.
pub const DEFAULT_START_LIMIT_INTERVAL: Duration = Duration::from_secs(10);
/// Default of `StartLimitBurst=`.
pub const DEFAULT_START_LIMIT_BURST: u32 = 5;

/// One `EnvironmentFile=` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentFile {
    /// Absolute path (specifiers resolved). systemd also accepts glob
    /// patterns here; expanding them is left to the manager.
    pub path: PathBuf,
    /// `-` prefix: a missing file is not an error.
    pub optional: bool,
}

/// Where `WorkingDirectory=` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkingPath {
    /// `~`: the home directory of `User=` (looked up at spawn time).
    Home,
    /// An absolute path (specifiers resolved, normalized).
    Path(PathBuf),
}

/// `WorkingDirectory=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingDirectory {
    /// The directory.
    pub path: WorkingPath,
    /// `-` prefix: a missing directory is not an error.
    pub missing_ok: bool,
}

/// The settings of one service unit, after the fragment and all drop-ins
/// have been applied and defaults filled in.
///
/// Specifiers are resolved everywhere systemd resolves them; environment
/// variables in commands are not (see [`crate::expand_command`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitConfig {
    /// `Description=`; `None` when unset.
    pub description: Option<String>,
    /// `Documentation=` URLs. Accepted and kept, not interpreted.
    pub documentation: Vec<String>,
    /// `Requires=` unit names (any unit type), in order, without
    /// duplicates. As in systemd, an empty assignment does *not* reset
    /// dependency lists.
    pub requires: Vec<String>,
    /// `Wants=` unit names.
    pub wants: Vec<String>,
    /// `BindsTo=` unit names.
    pub binds_to: Vec<String>,
    /// `After=` unit names.
    pub after: Vec<String>,
    /// `Before=` unit names.
    pub before: Vec<String>,
    /// `DefaultDependencies=` (default `true`). Accepted; what implicit
    /// dependencies it implies is up to the manager.
    pub default_dependencies: bool,
    /// `StartLimitIntervalSec=` (default 10s). `Some(ZERO)` disables rate
    /// limiting; `None` is `infinity`.
    pub start_limit_interval: Option<Duration>,
    /// `StartLimitBurst=` (default 5).
    pub start_limit_burst: u32,

    /// `Type=`. When unset: `simple` if `ExecStart=` is set, else
    /// `oneshot`, as systemd does.
    pub service_type: ServiceType,
    /// `ExecStart=` commands. More than one only for `Type=oneshot`.
    pub exec_start: Vec<ExecCommand>,
    /// `ExecStartPre=` commands.
    pub exec_start_pre: Vec<ExecCommand>,
    /// `ExecStartPost=` commands.
    pub exec_start_post: Vec<ExecCommand>,
    /// `ExecReload=` commands.
    pub exec_reload: Vec<ExecCommand>,
    /// `ExecStop=` commands.
    pub exec_stop: Vec<ExecCommand>,
    /// `ExecStopPost=` commands.
    pub exec_stop_post: Vec<ExecCommand>,
    /// `Environment=` assignments in order of first appearance; a
    /// variable assigned twice keeps its first position and last value.
    pub environment: Vec<(String, String)>,
    /// `EnvironmentFile=` entries, in order.
    pub environment_files: Vec<EnvironmentFile>,
    /// `WorkingDirectory=`; `None` when unset.
    pub working_directory: Option<WorkingDirectory>,
    /// `User=` (name or numeric UID); `None` when unset.
    pub user: Option<String>,
    /// `Group=` (name or numeric GID); `None` when unset.
    pub group: Option<String>,
    /// `NotifyAccess=` as configured; `None` when unset. See
    /// [`UnitConfig::effective_notify_access`].
    pub notify_access: Option<NotifyAccess>,
    /// `TimeoutStartSec=` (or `TimeoutSec=`). `None` means no timeout
    /// (`infinity` or `0`). Default 90s, except `Type=oneshot` where the
    /// default is no timeout.
    pub timeout_start: Option<Duration>,
    /// `TimeoutStopSec=` (or `TimeoutSec=`). `None` means no timeout
    /// (`infinity` or `0`). Default 90s.
    pub timeout_stop: Option<Duration>,
    /// `WatchdogSec=`. `None` means disabled (`0`, `infinity` or unset).
    pub watchdog: Option<Duration>,
    /// `RemainAfterExit=` (default `false`).
    pub remain_after_exit: bool,
    /// `KillMode=` (default `control-group`).
    pub kill_mode: KillMode,
    /// `KillSignal=` (default `SIGTERM`).
    pub kill_signal: Signal,
    /// `Restart=` (default `no`).
    pub restart: Restart,
    /// `RestartSec=` (default 100ms). `None` is `infinity`.
    pub restart_sec: Option<Duration>,
    /// `PIDFile=`; relative paths are made absolute under the runtime
    /// directory (`/run`). Accepted; herald does not support forking
    /// services.
    pub pid_file: Option<PathBuf>,
    /// `FileDescriptorStoreMax=` (default 0).
    pub file_descriptor_store_max: u32,
}

impl Default for UnitConfig {
    /// systemd's defaults for a service with no settings (before the
    /// load-time adjustments that depend on other settings).
    fn default() -> Self {
        UnitConfig {
            description: None,
            documentation: Vec::new(),
            requires: Vec::new(),
            wants: Vec::new(),
            binds_to: Vec::new(),
            after: Vec::new(),
            before: Vec::new(),
            default_dependencies: true,
            start_limit_interval: Some(DEFAULT_START_LIMIT_INTERVAL),
            start_limit_burst: DEFAULT_START_LIMIT_BURST,
            service_type: ServiceType::Simple,
            exec_start: Vec::new(),
            exec_start_pre: Vec::new(),
            exec_start_post: Vec::new(),
            exec_reload: Vec::new(),
            exec_stop: Vec::new(),
            exec_stop_post: Vec::new(),
            environment: Vec::new(),
            environment_files: Vec::new(),
            working_directory: None,
            user: None,
            group: None,
            notify_access: None,
            timeout_start: Some(DEFAULT_TIMEOUT),
            timeout_stop: Some(DEFAULT_TIMEOUT),
            watchdog: None,
            remain_after_exit: false,
            kill_mode: KillMode::ControlGroup,
            kill_signal: Signal::SIGTERM,
            restart: Restart::No,
            restart_sec: Some(DEFAULT_RESTART_SEC),
            pid_file: None,
            file_descriptor_store_max: 0,
        }
    }
}

impl UnitConfig {
    /// The `NotifyAccess=` systemd would use: the configured value, but
    /// an unset or `none` value becomes `main` when the service needs the
    /// notification socket (`Type=notify`, `Type=notify-reload`,
    /// `WatchdogSec=` or `FileDescriptorStoreMax=` set).
    pub fn effective_notify_access(&self) -> NotifyAccess {
        let configured = self.notify_access.unwrap_or(NotifyAccess::None);
        let needs_socket = matches!(
            self.service_type,
            ServiceType::Notify | ServiceType::NotifyReload
        ) || self.watchdog.is_some()
            || self.file_descriptor_store_max > 0;
        if configured == NotifyAccess::None && needs_socket {
            NotifyAccess::Main
        } else {
            configured
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Unit,
    Service,
    Install,
}

impl Section {
    fn name(self) -> &'static str {
        match self {
            Section::Unit => "Unit",
            Section::Service => "Service",
            Section::Install => "Install",
        }
    }
}

/// Where an assignment came from.
struct At<'a> {
    path: &'a Path,
    line: usize,
    key: &'a str,
}

impl At<'_> {
    fn error(&self, kind: ErrorKind) -> Error {
        Error::new(self.path, self.line, Some(self.key), kind)
    }
}

/// Accumulates the settings of one unit across its files.
pub(crate) struct Builder {
    unit: UnitName,
    ctx: SpecifierContext,
    cfg: UnitConfig,
    warnings: Vec<Warning>,
    first_path: Option<PathBuf>,
    type_set: Option<(ServiceType, PathBuf, usize)>,
    start_timeout_set: bool,
    exec_start_at: Vec<(PathBuf, usize)>,
    restart_at: Option<(PathBuf, usize)>,
}

impl Builder {
    pub(crate) fn new(unit: UnitName, ctx: SpecifierContext) -> Self {
        Builder {
            unit,
            ctx,
            cfg: UnitConfig::default(),
            warnings: Vec::new(),
            first_path: None,
            type_set: None,
            start_timeout_set: false,
            exec_start_at: Vec::new(),
            restart_at: None,
        }
    }

    /// Applies one file (the fragment or a drop-in).
    pub(crate) fn apply(&mut self, path: &Path, contents: &[u8]) -> Result<(), Error> {
        if self.first_path.is_none() {
            self.first_path = Some(path.to_owned());
        }
        let events = syntax::lex(contents).map_err(|e| Error::new(path, e.line, None, e.kind))?;
        let mut section: Option<Section> = None;
        let mut section_ignored = false;
        for event in events {
            match event {
                Event::Warning {
                    line,
                    kind,
                    message,
                } => self.push_warning(path, line, None, kind, message),
                Event::Section { name, line } => {
                    section = match name.as_str() {
                        "Unit" => Some(Section::Unit),
                        "Service" => Some(Section::Service),
                        "Install" => Some(Section::Install),
                        other => {
                            if !other.starts_with("X-") {
                                let message = format!("Unknown section '{other}'. Ignoring.");
                                self.push_warning(
                                    path,
                                    line,
                                    None,
                                    WarningKind::UnknownSection,
                                    message,
                                );
                            }
                            None
                        }
                    };
                    section_ignored = section.is_none();
                }
                Event::Assignment { key, value, line } => {
                    let Some(sec) = section else {
                        if !section_ignored {
                            self.push_warning(
                                path,
                                line,
                                Some(&key),
                                WarningKind::Syntax,
                                "Assignment outside of section. Ignoring.".to_owned(),
                            );
                        }
                        continue;
                    };
                    let at = At {
                        path,
                        line,
                        key: &key,
                    };
                    self.assign(&at, sec, &value)?;
                }
            }
        }
        Ok(())
    }

    fn push_warning(
        &mut self,
        path: &Path,
        line: usize,
        key: Option<&str>,
        kind: WarningKind,
        message: String,
    ) {
        self.warnings.push(Warning {
            path: path.to_owned(),
            line,
            key: key.map(str::to_owned),
            kind,
            message,
        });
    }

    fn warn(&mut self, at: &At, kind: WarningKind, message: String) {
        self.push_warning(at.path, at.line, Some(at.key), kind, message);
    }

    fn invalid(&mut self, at: &At, message: String) {
        self.warn(at, WarningKind::InvalidValue, message);
    }

    fn resolve(&self, at: &At, text: &str) -> Result<String, Error> {
        resolve_specifiers(text, &self.unit, &self.ctx).map_err(|error| {
            at.error(ErrorKind::Specifier {
                text: text.to_owned(),
                error,
            })
        })
    }

    fn assign(&mut self, at: &At, section: Section, v: &str) -> Result<(), Error> {
        match (section, at.key) {
            (Section::Unit, "Description") => {
                self.cfg.description = if v.is_empty() {
                    None
                } else {
                    Some(self.resolve(at, v)?)
                };
            }
            (Section::Unit, "Documentation") => self.documentation(at, v)?,
            (Section::Unit, "Requires") => self.dependencies(at, v, |c| &mut c.requires)?,
            (Section::Unit, "Wants") => self.dependencies(at, v, |c| &mut c.wants)?,
            (Section::Unit, "BindsTo") => self.dependencies(at, v, |c| &mut c.binds_to)?,
            (Section::Unit, "After") => self.dependencies(at, v, |c| &mut c.after)?,
            (Section::Unit, "Before") => self.dependencies(at, v, |c| &mut c.before)?,
            (Section::Unit, "DefaultDependencies") => {
                if let Some(b) = self.boolean(at, v, true) {
                    self.cfg.default_dependencies = b;
                }
            }
            (Section::Unit, "StartLimitIntervalSec") => {
                if let Some(t) = self.timespan(at, v, Some(DEFAULT_START_LIMIT_INTERVAL)) {
                    self.cfg.start_limit_interval = t;
                }
            }
            (Section::Unit, "StartLimitBurst") => {
                if let Some(n) = self.unsigned(at, v, DEFAULT_START_LIMIT_BURST) {
                    self.cfg.start_limit_burst = n;
                }
            }

            (Section::Service, "Type") => self.service_type(at, v)?,
            (Section::Service, "ExecStart") => self.exec(at, v, |c| &mut c.exec_start)?,
            (Section::Service, "ExecStartPre") => self.exec(at, v, |c| &mut c.exec_start_pre)?,
            (Section::Service, "ExecStartPost") => self.exec(at, v, |c| &mut c.exec_start_post)?,
            (Section::Service, "ExecReload") => self.exec(at, v, |c| &mut c.exec_reload)?,
            (Section::Service, "ExecStop") => self.exec(at, v, |c| &mut c.exec_stop)?,
            (Section::Service, "ExecStopPost") => self.exec(at, v, |c| &mut c.exec_stop_post)?,
            (Section::Service, "Environment") => self.environment(at, v)?,
            (Section::Service, "EnvironmentFile") => self.environment_file(at, v)?,
            (Section::Service, "WorkingDirectory") => self.working_directory(at, v)?,
            (Section::Service, "User") => self.cfg.user = self.user_group(at, v)?,
            (Section::Service, "Group") => self.cfg.group = self.user_group(at, v)?,
            (Section::Service, "NotifyAccess") => {
                if v.is_empty() {
                    self.cfg.notify_access = None;
                } else if let Some(n) = NotifyAccess::parse(v) {
                    self.cfg.notify_access = Some(n);
                } else {
                    self.invalid(
                        at,
                        format!("Failed to parse notify access specifier, ignoring: {v}"),
                    );
                }
            }
            (Section::Service, "TimeoutStartSec" | "TimeoutSec") => {
                if let Some(t) = self.timespan(at, v, Some(DEFAULT_TIMEOUT)) {
                    let t = t.filter(|d| !d.is_zero());
                    self.cfg.timeout_start = t;
                    self.start_timeout_set = !v.is_empty();
                    if at.key == "TimeoutSec" {
                        self.cfg.timeout_stop = t;
                    }
                }
            }
            (Section::Service, "TimeoutStopSec") => {
                if let Some(t) = self.timespan(at, v, Some(DEFAULT_TIMEOUT)) {
                    self.cfg.timeout_stop = t.filter(|d| !d.is_zero());
                }
            }
            (Section::Service, "WatchdogSec") => {
                if let Some(t) = self.timespan(at, v, None) {
                    self.cfg.watchdog = t.filter(|d| !d.is_zero());
                }
            }
            (Section::Service, "RestartSec") => {
                if let Some(t) = self.timespan(at, v, Some(DEFAULT_RESTART_SEC)) {
                    self.cfg.restart_sec = t;
                }
            }
            (Section::Service, "RemainAfterExit") => {
                if let Some(b) = self.boolean(at, v, false) {
                    self.cfg.remain_after_exit = b;
                }
            }
            (Section::Service, "KillMode") => {
                if v.is_empty() {
                    self.cfg.kill_mode = KillMode::ControlGroup;
                } else if let Some(m) = KillMode::parse(v) {
                    if m == KillMode::None {
                        self.warn(
                            at,
                            WarningKind::Deprecated,
                            "Unit uses KillMode=none. This is unsafe, as it disables the \
                             manager's process lifecycle management for the service. Please \
                             use a safer KillMode=, such as 'mixed' or 'control-group'. \
                             Support for KillMode=none is deprecated."
                                .to_owned(),
                        );
                    }
                    self.cfg.kill_mode = m;
                } else {
                    self.invalid(
                        at,
                        format!("Failed to parse kill mode specification, ignoring: {v}"),
                    );
                }
            }
            (Section::Service, "KillSignal") => {
                if v.is_empty() {
                    self.cfg.kill_signal = Signal::SIGTERM;
                } else if let Some(s) = Signal::parse(v) {
                    self.cfg.kill_signal = s;
                } else {
                    self.invalid(at, format!("Unknown signal name {v}, ignoring."));
                }
            }
            (Section::Service, "Restart") => {
                if v.is_empty() {
                    self.cfg.restart = Restart::No;
                    self.restart_at = None;
                } else if let Some(r) = Restart::parse(v) {
                    self.cfg.restart = r;
                    self.restart_at = Some((at.path.to_owned(), at.line));
                } else {
                    self.invalid(
                        at,
                        format!("Failed to parse service restart specifier, ignoring: {v}"),
                    );
                }
            }
            (Section::Service, "PIDFile") => self.pid_file(at, v)?,
            (Section::Service, "FileDescriptorStoreMax") => {
                if let Some(n) = self.unsigned(at, v, 0) {
                    self.cfg.file_descriptor_store_max = n;
                }
            }

            (
                Section::Install,
                "WantedBy" | "RequiredBy" | "UpheldBy" | "Alias" | "Also" | "DefaultInstance",
            ) => {}

            (section, key) => {
                if !key.starts_with("X-") {
                    let message = format!(
                        "Unknown key name '{key}' in section '{}', ignoring.",
                        section.name()
                    );
                    self.warn(at, WarningKind::UnknownKey, message);
                }
            }
        }
        Ok(())
    }

    /// Parses a boolean; empty gives `default`; invalid warns.
    fn boolean(&mut self, at: &At, v: &str, default: bool) -> Option<bool> {
        if v.is_empty() {
            return Some(default);
        }
        let b = parse_bool(v);
        if b.is_none() {
            self.invalid(at, format!("Failed to parse boolean value, ignoring: {v}"));
        }
        b
    }

    /// Parses a time span; empty gives `default`; invalid warns.
    /// `Some(None)` is infinity.
    fn timespan(
        &mut self,
        at: &At,
        v: &str,
        default: Option<Duration>,
    ) -> Option<Option<Duration>> {
        if v.is_empty() {
            return Some(default);
        }
        match parse_timespan(v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.invalid(
                    at,
                    format!("Failed to parse {}= parameter ({e}), ignoring: {v}", at.key),
                );
                None
            }
        }
    }

    /// Parses an unsigned number; empty gives `default`; invalid warns.
    fn unsigned(&mut self, at: &At, v: &str, default: u32) -> Option<u32> {
        if v.is_empty() {
            return Some(default);
        }
        let n = v
            .parse::<u32>()
            .ok()
            .filter(|_| v.bytes().all(|b| b.is_ascii_digit()));
        if n.is_none() {
            self.invalid(
                at,
                format!("Failed to parse {}= value, ignoring: {v}", at.key),
            );
        }
        n
    }

    fn documentation(&mut self, at: &At, v: &str) -> Result<(), Error> {
        if v.is_empty() {
            self.cfg.documentation.clear();
            return Ok(());
        }
        let flags = exec::SplitFlags {
            unquote: true,
            ..exec::SplitFlags::default()
        };
        let mut pos = 0;
        loop {
            match exec::extract_word(v, &mut pos, flags) {
                Ok(Some(word)) => {
                    let url = self.resolve(at, &word)?;
                    self.cfg.documentation.push(url);
                }
                Ok(None) => return Ok(()),
                Err(_) => {
                    self.invalid(at, format!("Invalid syntax, ignoring: {v}"));
                    return Ok(());
                }
            }
        }
    }

    fn dependencies(
        &mut self,
        at: &At,
        v: &str,
        list: fn(&mut UnitConfig) -> &mut Vec<String>,
    ) -> Result<(), Error> {
        // An empty assignment does not reset dependencies in systemd
        // (systemd.unit(5)); words are split at blanks, without quoting.
        for word in v.split([' ', '\t', '\n', '\r']).filter(|w| !w.is_empty()) {
            let name = self.resolve(at, word)?;
            match UnitName::parse(&name) {
                Ok(_) => {
                    let l = list(&mut self.cfg);
                    if !l.contains(&name) {
                        l.push(name);
                    }
                }
                Err(e) => {
                    self.invalid(
                        at,
                        format!("Failed to add dependency on {name}, ignoring: {e}"),
                    );
                }
            }
        }
        Ok(())
    }

    fn service_type(&mut self, at: &At, v: &str) -> Result<(), Error> {
        if v.is_empty() {
            self.type_set = None;
        } else if let Some(t) = ServiceType::parse(v) {
            self.type_set = Some((t, at.path.to_owned(), at.line));
        } else if value::UNSUPPORTED_TYPES.contains(&v) {
            return Err(at.error(ErrorKind::UnsupportedType(v.to_owned())));
        } else {
            self.invalid(at, format!("Failed to parse service type, ignoring: {v}"));
        }
        Ok(())
    }

    fn exec(
        &mut self,
        at: &At,
        v: &str,
        list: fn(&mut UnitConfig) -> &mut Vec<ExecCommand>,
    ) -> Result<(), Error> {
        let is_start = at.key == "ExecStart";
        if v.is_empty() {
            list(&mut self.cfg).clear();
            if is_start {
                self.exec_start_at.clear();
            }
            return Ok(());
        }
        let (unit, ctx) = (&self.unit, &self.ctx);
        let resolve =
            |s: &str| -> Result<String, SpecifierError> { resolve_specifiers(s, unit, ctx) };
        let parsed = exec::parse_exec(v, &resolve).map_err(|f| match f {
            ExecFailure::Invalid(msg) => at.error(ErrorKind::InvalidCommand(msg)),
            ExecFailure::Specifier { text, error } => {
                at.error(ErrorKind::Specifier { text, error })
            }
        })?;
        for (kind, message) in parsed.warnings {
            self.warn(at, kind, message);
        }
        if is_start {
            self.exec_start_at.extend(
                parsed
                    .commands
                    .iter()
                    .map(|_| (at.path.to_owned(), at.line)),
            );
        }
        list(&mut self.cfg).extend(parsed.commands);
        Ok(())
    }

    fn environment(&mut self, at: &At, v: &str) -> Result<(), Error> {
        if v.is_empty() {
            self.cfg.environment.clear();
            return Ok(());
        }
        let mut pos = 0;
        loop {
            let word = match exec::extract_word(v, &mut pos, exec::UNQUOTE_CUNESCAPE) {
                Ok(Some(w)) => w,
                Ok(None) => return Ok(()),
                Err(_) => {
                    self.invalid(at, format!("Invalid syntax, ignoring: {v}"));
                    return Ok(());
                }
            };
            let resolved = self.resolve(at, &word)?;
            match resolved.split_once('=') {
                Some((name, value)) if env_name_is_valid(name) => {
                    let env = &mut self.cfg.environment;
                    match env.iter_mut().find(|(k, _)| k == name) {
                        Some(slot) => slot.1 = value.to_owned(),
                        None => env.push((name.to_owned(), value.to_owned())),
                    }
                }
                _ => self.invalid(
                    at,
                    format!("Invalid environment assignment, ignoring: {resolved}"),
                ),
            }
        }
    }

    fn environment_file(&mut self, at: &At, v: &str) -> Result<(), Error> {
        if v.is_empty() {
            self.cfg.environment_files.clear();
            return Ok(());
        }
        let resolved = self.resolve(at, v)?;
        let (optional, path) = match resolved.strip_prefix('-') {
            Some(p) => (true, p),
            None => (false, resolved.as_str()),
        };
        if !value::path_is_valid_absolute(path) {
            self.invalid(
                at,
                format!("{}= path is not absolute, ignoring: {path}", at.key),
            );
            return Ok(());
        }
        self.cfg.environment_files.push(EnvironmentFile {
            path: PathBuf::from(value::path_simplify(path)),
            optional,
        });
        Ok(())
    }

    fn working_directory(&mut self, at: &At, v: &str) -> Result<(), Error> {
        if v.is_empty() {
            self.cfg.working_directory = None;
            return Ok(());
        }
        let (missing_ok, rest) = match v.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, v),
        };
        if rest == "~" {
            self.cfg.working_directory = Some(WorkingDirectory {
                path: WorkingPath::Home,
                missing_ok,
            });
            return Ok(());
        }
        let resolved = match self.resolve(at, rest) {
            Ok(r) => r,
            Err(e) if missing_ok => {
                self.invalid(at, format!("{}, ignoring", e.kind));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if !value::path_is_valid_absolute(&resolved) {
            let msg = format!("{}= path is not absolute: {resolved}", at.key);
            if missing_ok {
                self.invalid(at, format!("{msg}, ignoring"));
                return Ok(());
            }
            return Err(at.error(ErrorKind::InvalidSetting(msg)));
        }
        self.cfg.working_directory = Some(WorkingDirectory {
            path: WorkingPath::Path(PathBuf::from(value::path_simplify(&resolved))),
            missing_ok,
        });
        Ok(())
    }

    fn user_group(&mut self, at: &At, v: &str) -> Result<Option<String>, Error> {
        if v.is_empty() {
            return Ok(None);
        }
        let resolved = self.resolve(at, v)?;
        if !value::user_group_name_is_valid(&resolved) {
            return Err(at.error(ErrorKind::InvalidSetting(format!(
                "Invalid user/group name or numeric ID: {resolved}"
            ))));
        }
        Ok(Some(resolved))
    }

    fn pid_file(&mut self, at: &At, v: &str) -> Result<(), Error> {
        if v.is_empty() {
            self.cfg.pid_file = None;
            return Ok(());
        }
        let resolved = self.resolve(at, v)?;
        let absolute = if resolved.starts_with('/') {
            resolved
        } else {
            format!("{}/{resolved}", self.ctx.runtime_dir)
        };
        if !value::path_is_valid_absolute(&absolute) {
            self.invalid(
                at,
                format!("{}= path is not valid, ignoring: {absolute}", at.key),
            );
            return Ok(());
        }
        self.cfg.pid_file = Some(PathBuf::from(value::path_simplify(&absolute)));
        Ok(())
    }

    /// Fills in defaults that depend on other settings and checks the
    /// result (systemd's `service_add_extras()` + `service_verify()`).
    pub(crate) fn finish(mut self) -> Result<(UnitConfig, Vec<Warning>), Error> {
        let fragment = self.first_path.clone().unwrap_or_default();
        let cfg = &mut self.cfg;
        cfg.service_type = match &self.type_set {
            Some((t, _, _)) => *t,
            None if cfg.exec_start.is_empty() => ServiceType::Oneshot,
            None => ServiceType::Simple,
        };
        let oneshot = cfg.service_type == ServiceType::Oneshot;
        if oneshot && !self.start_timeout_set {
            cfg.timeout_start = None;
        }

        if cfg.exec_start.is_empty() && cfg.exec_stop.is_empty() {
            return Err(Error::new(fragment, 0, None, ErrorKind::NoCommands));
        }
        if !oneshot && cfg.exec_start.is_empty() {
            let (path, line) = match &self.type_set {
                Some((_, p, l)) => (p.clone(), *l),
                None => (fragment, 0),
            };
            return Err(Error::new(path, line, Some("Type"), ErrorKind::NoExecStart));
        }
        if !cfg.remain_after_exit && cfg.exec_start.is_empty() {
            return Err(Error::new(
                fragment,
                0,
                None,
                ErrorKind::NoExecStartWithoutRemain,
            ));
        }
        if !oneshot && cfg.exec_start.len() > 1 {
            let (path, line) = self.exec_start_at[1].clone();
            return Err(Error::new(
                path,
                line,
                Some("ExecStart"),
                ErrorKind::MultipleExecStart,
            ));
        }
        if oneshot && matches!(cfg.restart, Restart::Always | Restart::OnSuccess) {
            let (path, line) = self.restart_at.clone().unwrap_or((fragment, 0));
            return Err(Error::new(
                path,
                line,
                Some("Restart"),
                ErrorKind::OneshotRestart,
            ));
        }
        Ok((self.cfg, self.warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Privilege;
    use crate::load::{parse_unit_str, LoadedUnit};

    const PATH: &str = "/etc/systemd/system/t.service";

    fn ctx() -> SpecifierContext {
        SpecifierContext {
            runtime_dir: "/run/user/1000".into(),
            home: "/home/u".into(),
            user: "u".into(),
            uid: 1000,
            hostname: "host".into(),
            fragment: None,
        }
    }

    fn parse_as(name: &str, text: &str) -> Result<LoadedUnit, Error> {
        parse_unit_str(name, PATH, text, &ctx())
    }

    /// Parses `[Service]\nExecStart=/bin/t\n` plus `extra` (which may
    /// open other sections).
    fn unit(extra: &str) -> LoadedUnit {
        let text = format!("[Service]\nExecStart=/bin/t\n{extra}");
        parse_as("t.service", &text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn cfg(extra: &str) -> UnitConfig {
        unit(extra).config
    }

    fn err(text: &str) -> Error {
        match parse_as("t.service", text) {
            Ok(u) => panic!("{text:?} parsed: {:?}", u.config),
            Err(e) => e,
        }
    }

    fn messages(u: &LoadedUnit) -> Vec<String> {
        u.warnings.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn defaults() {
        let c = cfg("");
        assert_eq!(c.service_type, ServiceType::Simple);
        assert_eq!(c.timeout_start, Some(DEFAULT_TIMEOUT));
        assert_eq!(c.timeout_stop, Some(DEFAULT_TIMEOUT));
        assert_eq!(c.kill_signal, Signal::SIGTERM);
        assert_eq!(c.kill_mode, KillMode::ControlGroup);
        assert_eq!(c.restart, Restart::No);
        assert_eq!(c.restart_sec, Some(DEFAULT_RESTART_SEC));
        assert_eq!(c.notify_access, None);
        assert_eq!(c.effective_notify_access(), NotifyAccess::None);
        assert_eq!(c.watchdog, None);
        assert!(c.default_dependencies);
        assert!(!c.remain_after_exit);
        assert_eq!(c.file_descriptor_store_max, 0);
        assert_eq!(c.start_limit_burst, 5);
        assert_eq!(c.start_limit_interval, Some(Duration::from_secs(10)));
    }

    #[test]
    fn unit_section() {
        let c = cfg(
            "[Unit]\nDescription=Test %n on %H\nDocumentation=man:t(8) \"https://x/y z\"\n\
             Requires=a.service b.target\nWants=c.socket\nBindsTo=d.device\n\
             After=a.service\nAfter=e.mount a.service\nBefore=f.target\n\
             DefaultDependencies=no\nStartLimitIntervalSec=1min\nStartLimitBurst=3\n",
        );
        assert_eq!(c.description.as_deref(), Some("Test t.service on host"));
        assert_eq!(c.documentation, ["man:t(8)", "https://x/y z"]);
        assert_eq!(c.requires, ["a.service", "b.target"]);
        assert_eq!(c.wants, ["c.socket"]);
        assert_eq!(c.binds_to, ["d.device"]);
        assert_eq!(c.after, ["a.service", "e.mount"]);
        assert_eq!(c.before, ["f.target"]);
        assert!(!c.default_dependencies);
        assert_eq!(c.start_limit_interval, Some(Duration::from_secs(60)));
        assert_eq!(c.start_limit_burst, 3);
    }

    #[test]
    fn list_resets() {
        // Exec*, Environment, EnvironmentFile and Documentation reset on
        // an empty assignment ...
        let c = cfg("ExecStartPre=/bin/a\nExecStartPre=\nExecStartPre=/bin/b\n\
             ExecStop=/bin/s1\nExecStop=/bin/s2\n\
             ExecReload=/bin/r\nExecReload=\n\
             Environment=A=1\nEnvironment=\nEnvironment=B=2\n\
             EnvironmentFile=/etc/x\nEnvironmentFile=\nEnvironmentFile=-/etc/y\n\
             [Unit]\nDocumentation=man:a\nDocumentation=\nDocumentation=man:b\n");
        let paths = |l: &[ExecCommand]| l.iter().map(|c| c.path.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&c.exec_start_pre), ["/bin/b"]);
        assert_eq!(paths(&c.exec_stop), ["/bin/s1", "/bin/s2"]);
        assert!(c.exec_reload.is_empty());
        assert_eq!(c.environment, [("B".to_string(), "2".to_string())]);
        assert_eq!(
            c.environment_files,
            [EnvironmentFile {
                path: "/etc/y".into(),
                optional: true
            }]
        );
        assert_eq!(c.documentation, ["man:b"]);

        // ... dependencies do not (systemd.unit(5)).
        let c = cfg("[Unit]\nAfter=a.service\nAfter=\nAfter=b.service\nWants=\n");
        assert_eq!(c.after, ["a.service", "b.service"]);
        assert!(c.wants.is_empty());

        // ExecStart= reset is what makes drop-in overrides possible.
        let c = cfg("ExecStart=\nExecStart=/bin/other x\n");
        assert_eq!(c.exec_start.len(), 1);
        assert_eq!(c.exec_start[0].argv, ["/bin/other", "x"]);
    }

    #[test]
    fn scalar_values() {
        type Check = fn(&UnitConfig) -> bool;
        let table: &[(&str, Check)] = &[
            ("RemainAfterExit=yes", |c| c.remain_after_exit),
            ("RemainAfterExit=on\nRemainAfterExit=", |c| {
                !c.remain_after_exit
            }),
            ("TimeoutStartSec=10", |c| {
                c.timeout_start == Some(Duration::from_secs(10))
            }),
            ("TimeoutStartSec=0", |c| c.timeout_start.is_none()),
            ("TimeoutStartSec=infinity", |c| c.timeout_start.is_none()),
            ("TimeoutStopSec=1min 30s", |c| {
                c.timeout_stop == Some(Duration::from_secs(90))
            }),
            ("TimeoutStopSec=0", |c| c.timeout_stop.is_none()),
            ("TimeoutSec=7", |c| {
                c.timeout_start == Some(Duration::from_secs(7))
                    && c.timeout_stop == Some(Duration::from_secs(7))
            }),
            ("TimeoutSec=7\nTimeoutStopSec=3", |c| {
                c.timeout_start == Some(Duration::from_secs(7))
                    && c.timeout_stop == Some(Duration::from_secs(3))
            }),
            ("TimeoutStopSec=3\nTimeoutStopSec=", |c| {
                c.timeout_stop == Some(DEFAULT_TIMEOUT)
            }),
            ("WatchdogSec=500ms", |c| {
                c.watchdog == Some(Duration::from_millis(500))
            }),
            ("WatchdogSec=0", |c| c.watchdog.is_none()),
            ("WatchdogSec=infinity", |c| c.watchdog.is_none()),
            ("RestartSec=2", |c| {
                c.restart_sec == Some(Duration::from_secs(2))
            }),
            ("RestartSec=infinity", |c| c.restart_sec.is_none()),
            ("Restart=on-failure", |c| c.restart == Restart::OnFailure),
            ("Restart=always\nRestart=", |c| c.restart == Restart::No),
            ("KillMode=mixed", |c| c.kill_mode == KillMode::Mixed),
            ("KillMode=process", |c| c.kill_mode == KillMode::Process),
            ("KillSignal=SIGINT", |c| c.kill_signal == Signal::SIGINT),
            ("KillSignal=HUP", |c| c.kill_signal == Signal::SIGHUP),
            ("KillSignal=9", |c| c.kill_signal == Signal::SIGKILL),
            ("NotifyAccess=all", |c| {
                c.notify_access == Some(NotifyAccess::All)
            }),
            ("NotifyAccess=exec", |c| {
                c.notify_access == Some(NotifyAccess::Exec)
            }),
            ("FileDescriptorStoreMax=16", |c| {
                c.file_descriptor_store_max == 16
            }),
            ("User=nobody\nGroup=nogroup", |c| {
                c.user.as_deref() == Some("nobody") && c.group.as_deref() == Some("nogroup")
            }),
            ("User=1000\nUser=", |c| c.user.is_none()),
            ("User=%u", |c| c.user.as_deref() == Some("u")),
            ("PIDFile=/run/t.pid", |c| {
                c.pid_file.as_deref() == Some(Path::new("/run/t.pid"))
            }),
            ("PIDFile=t.pid", |c| {
                c.pid_file.as_deref() == Some(Path::new("/run/user/1000/t.pid"))
            }),
            ("WorkingDirectory=/srv//%p/", |c| {
                c.working_directory
                    == Some(WorkingDirectory {
                        path: WorkingPath::Path("/srv/t".into()),
                        missing_ok: false,
                    })
            }),
            ("WorkingDirectory=-~", |c| {
                c.working_directory
                    == Some(WorkingDirectory {
                        path: WorkingPath::Home,
                        missing_ok: true,
                    })
            }),
            ("WorkingDirectory=-relative", |c| {
                c.working_directory.is_none()
            }),
            ("WorkingDirectory=/a\nWorkingDirectory=", |c| {
                c.working_directory.is_none()
            }),
        ];
        for (extra, check) in table {
            let c = cfg(&format!("{extra}\n"));
            assert!(check(&c), "{extra:?} gave {c:#?}");
        }
    }

    #[test]
    fn invalid_values_warn_and_keep_previous() {
        let u = unit(
            "Restart=always\nRestart=sometimes\nRemainAfterExit=maybe\nTimeoutStopSec=5 parsecs\n\
             KillSignal=SIGFOO\nKillMode=gently\nNotifyAccess=some\nFileDescriptorStoreMax=-1\n\
             Type=bogus\nEnvironmentFile=relative/path\n[Unit]\nAfter=not-a-unit\n",
        );
        assert_eq!(u.config.restart, Restart::Always);
        assert!(!u.config.remain_after_exit);
        assert_eq!(u.config.timeout_stop, Some(DEFAULT_TIMEOUT));
        assert_eq!(u.config.kill_signal, Signal::SIGTERM);
        assert!(u.config.after.is_empty());
        assert!(u.config.environment_files.is_empty());
        assert_eq!(u.config.service_type, ServiceType::Simple);
        let lines: Vec<usize> = u.warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, [4, 5, 6, 7, 8, 9, 10, 11, 12, 14]);
        assert!(u
            .warnings
            .iter()
            .all(|w| w.kind == WarningKind::InvalidValue));
        let m = messages(&u);
        assert_eq!(
            m[0],
            format!("{PATH}:4: Failed to parse service restart specifier, ignoring: sometimes")
        );
        assert_eq!(
            m[3],
            format!("{PATH}:7: Unknown signal name SIGFOO, ignoring.")
        );
    }

    #[test]
    fn unknown_keys_and_sections() {
        let u = unit(
            "Foo=bar\nX-Custom=ok\nConflicts=x\n[Unit]\nFrobnicate=1\n[X-Vendor]\nAnything=goes\n\
             [Socket]\nListenStream=80\n[Install]\nWantedBy=multi-user.target\nAlias=x.service\n\
             Bogus=1\n",
        );
        assert_eq!(
            messages(&u),
            [
                format!("{PATH}:3: Unknown key name 'Foo' in section 'Service', ignoring."),
                format!("{PATH}:5: Unknown key name 'Conflicts' in section 'Service', ignoring."),
                format!("{PATH}:7: Unknown key name 'Frobnicate' in section 'Unit', ignoring."),
                format!("{PATH}:10: Unknown section 'Socket'. Ignoring."),
                format!("{PATH}:15: Unknown key name 'Bogus' in section 'Install', ignoring."),
            ]
        );
        let kinds: Vec<_> = u.warnings.iter().map(|w| w.kind).collect();
        assert_eq!(
            kinds,
            [
                WarningKind::UnknownKey,
                WarningKind::UnknownKey,
                WarningKind::UnknownKey,
                WarningKind::UnknownSection,
                WarningKind::UnknownKey,
            ]
        );
        assert_eq!(u.warnings[0].key.as_deref(), Some("Foo"));

        // Keys are case-sensitive, as in systemd.
        let u = unit("execstart=/bin/x\n");
        assert_eq!(u.warnings[0].kind, WarningKind::UnknownKey);

        let u = parse_as("t.service", "Early=1\n[Service]\nExecStart=/bin/t\n").unwrap();
        assert_eq!(
            messages(&u),
            [format!(
                "{PATH}:1: Assignment outside of section. Ignoring."
            )]
        );
    }

    #[test]
    fn environment_directive() {
        let u = unit(
            "Environment=\"A=b c\" D=e\nEnvironment=F='g h' A=new\n\
             Environment=ESC=a\\tb\\x41 HOST=%H\nEnvironment=bad-name=1 NOEQ 9X=1 OK=\n",
        );
        assert_eq!(
            u.config.environment,
            [
                ("A".to_string(), "new".to_string()),
                ("D".to_string(), "e".to_string()),
                ("F".to_string(), "g h".to_string()),
                ("ESC".to_string(), "a\tbA".to_string()),
                ("HOST".to_string(), "host".to_string()),
                ("OK".to_string(), String::new()),
            ]
        );
        assert_eq!(
            messages(&u),
            [
                format!("{PATH}:6: Invalid environment assignment, ignoring: bad-name=1"),
                format!("{PATH}:6: Invalid environment assignment, ignoring: NOEQ"),
                format!("{PATH}:6: Invalid environment assignment, ignoring: 9X=1"),
            ]
        );
        let u = unit("Environment=A=1 \"B=2\n");
        assert!(u.config.environment.is_empty() || u.config.environment.len() == 1);
        assert!(messages(&u)[0].contains("Invalid syntax, ignoring"));
    }

    #[test]
    fn exec_lines_in_units() {
        let c = cfg(
            "ExecStartPre=-/bin/pre %i\nExecStartPost=+/bin/post\nExecStop=!!/bin/stop $MAINPID\n\
             ExecReload=/bin/kill -HUP $MAINPID\nExecStopPost=@/bin/sh post-sh -c \"echo %n\"\n",
        );
        assert!(c.exec_start_pre[0].ignore_failure);
        assert_eq!(c.exec_start_pre[0].argv, ["/bin/pre", ""]);
        assert_eq!(c.exec_start_post[0].privilege, Privilege::Full);
        assert_eq!(c.exec_stop[0].privilege, Privilege::AmbientMagic);
        assert_eq!(c.exec_reload[0].argv, ["/bin/kill", "-HUP", "$MAINPID"]);
        assert_eq!(
            c.exec_stop_post[0].argv,
            ["post-sh", "-c", "echo t.service"]
        );
        assert_eq!(c.exec_stop_post[0].path, "/bin/sh");

        // Continuation lines and a comment inside them.
        let c = cfg("ExecStartPost=/bin/echo one \\\n# skipped\n  two \\\n  three\n");
        assert_eq!(
            c.exec_start_post[0].argv,
            ["/bin/echo", "one", "two", "three"]
        );

        // Specifiers are resolved after unquoting, per word.
        let c = cfg("ExecStartPre=/bin/echo \"%%n is %n\" %t/%p.sock\n");
        assert_eq!(
            c.exec_start_pre[0].argv,
            ["/bin/echo", "%n is t.service", "/run/user/1000/t.sock"]
        );
    }

    #[test]
    fn service_types_and_verification() {
        let ok = |text: &str| parse_as("t.service", text).unwrap().config;

        assert_eq!(
            ok("[Service]\nExecStart=/bin/x\n").service_type,
            ServiceType::Simple
        );
        for t in ["simple", "exec", "notify", "notify-reload", "oneshot"] {
            let c = ok(&format!("[Service]\nType={t}\nExecStart=/bin/x\n"));
            assert_eq!(c.service_type.as_str(), t);
        }
        // No ExecStart: Type defaults to oneshot; needs RemainAfterExit
        // and ExecStop.
        let c = ok("[Service]\nRemainAfterExit=yes\nExecStop=/bin/stop\n");
        assert_eq!(c.service_type, ServiceType::Oneshot);
        assert_eq!(c.timeout_start, None);
        // Oneshot: no start timeout by default, several ExecStart= allowed.
        let c = ok("[Service]\nType=oneshot\nExecStart=/bin/a\nExecStart=/bin/b ; /bin/c\n");
        assert_eq!(c.exec_start.len(), 3);
        assert_eq!(c.timeout_start, None);
        let c = ok("[Service]\nType=oneshot\nTimeoutStartSec=5\nExecStart=/bin/a\n");
        assert_eq!(c.timeout_start, Some(Duration::from_secs(5)));
        // Notify types need the socket.
        let c = ok("[Service]\nType=notify\nExecStart=/bin/a\n");
        assert_eq!(c.effective_notify_access(), NotifyAccess::Main);
        let c = ok("[Service]\nType=notify\nNotifyAccess=all\nExecStart=/bin/a\n");
        assert_eq!(c.effective_notify_access(), NotifyAccess::All);
        let c = ok("[Service]\nWatchdogSec=5\nExecStart=/bin/a\n");
        assert_eq!(c.effective_notify_access(), NotifyAccess::Main);

        let table: &[(&str, usize, Option<&str>, &str)] = &[
            (
                "[Service]\nType=forking\nExecStart=/bin/x\n",
                2,
                Some("Type"),
                "Type=forking is not supported",
            ),
            ("[Service]\nType=dbus\n", 2, Some("Type"), "Type=dbus is not supported"),
            ("[Service]\nType=idle\n", 2, Some("Type"), "Type=idle is not supported"),
            (
                "[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n",
                3,
                Some("ExecStart"),
                "Service has more than one ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.",
            ),
            (
                "[Service]\nExecStart=/bin/a ; /bin/b\n",
                2,
                Some("ExecStart"),
                "Service has more than one ExecStart= setting",
            ),
            ("[Unit]\nDescription=x\n", 0, None, "Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing."),
            (
                "[Service]\nType=simple\nExecStop=/bin/x\n",
                2,
                Some("Type"),
                "Service has no ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.",
            ),
            (
                "[Service]\nExecStop=/bin/x\n",
                0,
                None,
                "Service has no ExecStart= and no SuccessAction= settings and does not have RemainAfterExit=yes set. Refusing.",
            ),
            (
                "[Service]\nType=oneshot\nExecStart=/bin/x\nRestart=always\n",
                4,
                Some("Restart"),
                "Service has Restart= set to either always or on-success, which isn't allowed for Type=oneshot services. Refusing.",
            ),
            (
                "[Service]\nExecStart=/bin/x \"unterminated\n",
                2,
                Some("ExecStart"),
                "Unbalanced quoting",
            ),
            (
                "[Service]\nExecStart=relative/x\n",
                2,
                Some("ExecStart"),
                "Neither a valid executable name nor an absolute path: relative/x",
            ),
            (
                "[Service]\nExecStart=/bin/x %Z\n",
                2,
                Some("ExecStart"),
                "Failed to resolve unit specifiers in '%Z': unknown specifier '%Z'",
            ),
            (
                "[Service]\nExecStart=/bin/x\n[Unit]\nDescription=%q\n",
                4,
                Some("Description"),
                "unknown specifier '%q'",
            ),
            (
                "[Service]\nExecStart=/bin/x\nEnvironment=A=%z\n",
                3,
                Some("Environment"),
                "unknown specifier '%z'",
            ),
            (
                "[Service]\nExecStart=/bin/x\nWorkingDirectory=relative\n",
                3,
                Some("WorkingDirectory"),
                "WorkingDirectory= path is not absolute: relative",
            ),
            (
                "[Service]\nExecStart=/bin/x\nUser=a:b\n",
                3,
                Some("User"),
                "Invalid user/group name or numeric ID: a:b",
            ),
            ("[Service]\nExecStart=/bin/x\n[Unit\n", 3, None, "Invalid section header '[Unit'"),
        ];
        for (text, line, key, msg) in table {
            let e = err(text);
            assert_eq!(e.line, *line, "{text:?}: {e}");
            assert_eq!(e.key.as_deref(), *key, "{text:?}: {e}");
            assert_eq!(e.path, Path::new(PATH), "{text:?}");
            assert!(e.kind.to_string().contains(msg), "{text:?}: {e}");
            let prefix = match (line, key) {
                (0, _) => format!("{PATH}: "),
                (l, Some(k)) => format!("{PATH}:{l}: {k}: "),
                (l, None) => format!("{PATH}:{l}: "),
            };
            assert!(e.to_string().starts_with(&prefix), "{e}");
        }
    }

    #[test]
    fn ignored_commands_and_escapes_warn() {
        let u = unit("ExecStartPre=-/bin/x \"open\nExecStartPost=/bin/echo a\\qb\n");
        assert!(u.config.exec_start_pre.is_empty());
        assert_eq!(u.config.exec_start_post[0].argv, ["/bin/echo", "a\\qb"]);
        let kinds: Vec<_> = u.warnings.iter().map(|w| (w.line, w.kind)).collect();
        assert_eq!(
            kinds,
            [
                (3, WarningKind::IgnoredCommand),
                (4, WarningKind::InvalidValue)
            ]
        );
    }

    #[test]
    fn template_instance_specifiers() {
        let u = parse_as(
            "web@site-a.service",
            "[Unit]\nDescription=%p %i %I %N\n[Service]\nExecStart=/bin/web --name %I\n\
             WorkingDirectory=/srv/%i\nEnvironment=INST=%i\n",
        )
        .unwrap();
        let c = &u.config;
        assert_eq!(
            c.description.as_deref(),
            Some("web site-a site/a web@site-a")
        );
        assert_eq!(c.exec_start[0].argv, ["/bin/web", "--name", "site/a"]);
        assert_eq!(
            c.working_directory.as_ref().map(|w| w.path.clone()),
            Some(WorkingPath::Path("/srv/site-a".into()))
        );
        assert_eq!(c.environment, [("INST".to_string(), "site-a".to_string())]);
    }

    #[test]
    fn dependencies_resolve_specifiers() {
        let u = parse_as(
            "app@blue.service",
            "[Unit]\nRequires=db@%i.service\nAfter=db@%i.service %p-helper.service\n\
             [Service]\nExecStart=/bin/app\n",
        )
        .unwrap();
        assert_eq!(u.config.requires, ["db@blue.service"]);
        assert_eq!(u.config.after, ["db@blue.service", "app-helper.service"]);
    }

    #[test]
    fn realistic_unit() {
        let text = "\
[Unit]
Description=OpenBSD Secure Shell server
Documentation=man:sshd(8) man:sshd_config(5)
After=network.target auditd.service
ConditionPathExists=!/etc/ssh/sshd_not_to_be_run

[Service]
EnvironmentFile=-/etc/default/ssh
ExecStartPre=/usr/sbin/sshd -t
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
ExecReload=/usr/sbin/sshd -t
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
RestartPreventExitStatus=255
Type=notify
RuntimeDirectory=sshd

[Install]
WantedBy=multi-user.target
Alias=sshd.service
";
        let u = parse_as("ssh.service", text).unwrap();
        let c = &u.config;
        assert_eq!(c.after, ["network.target", "auditd.service"]);
        assert_eq!(c.documentation, ["man:sshd(8)", "man:sshd_config(5)"]);
        assert_eq!(
            c.environment_files,
            [EnvironmentFile {
                path: "/etc/default/ssh".into(),
                optional: true
            }]
        );
        assert_eq!(c.exec_start[0].argv, ["/usr/sbin/sshd", "-D", "$SSHD_OPTS"]);
        assert_eq!(c.exec_reload.len(), 2);
        assert_eq!(c.kill_mode, KillMode::Process);
        assert_eq!(c.restart, Restart::OnFailure);
        assert_eq!(c.service_type, ServiceType::Notify);
        let unknown: Vec<_> = u
            .warnings
            .iter()
            .map(|w| (w.line, w.key.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            unknown,
            [
                (5, "ConditionPathExists"),
                (15, "RestartPreventExitStatus"),
                (17, "RuntimeDirectory")
            ]
        );
    }
}
