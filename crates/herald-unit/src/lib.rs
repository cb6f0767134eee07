//! A pure parser for systemd-style `.service` unit files.
//!
//! ```
//! use std::time::Duration;
//! use herald_unit::{parse_unit_str, NotifyAccess, ServiceType, SpecifierContext};
//!
//! let text = r#"
//! [Unit]
//! Description=Demo for %H
//! After=network.target
//!
//! [Service]
//! Type=notify
//! Environment="GREETING=hello world" MODE=fast
//! ExecStart=/usr/bin/demo --greeting "$GREETING" \
//!           --mode=${MODE}
//! TimeoutStopSec=5s
//! WatchdogSec=30
//! Restart=on-failure
//! "#;
//! let unit = parse_unit_str(
//!     "demo.service",
//!     "/etc/systemd/system/demo.service",
//!     text,
//!     &SpecifierContext::system("box"),
//! )
//! .unwrap();
//! let cfg = &unit.config;
//! assert_eq!(cfg.description.as_deref(), Some("Demo for box"));
//! assert_eq!(cfg.after, ["network.target"]);
//! assert_eq!(cfg.service_type, ServiceType::Notify);
//! assert_eq!(cfg.exec_start[0].argv, ["/usr/bin/demo", "--greeting", "$GREETING", "--mode=${MODE}"]);
//! assert_eq!(cfg.timeout_stop, Some(Duration::from_secs(5)));
//! assert_eq!(cfg.effective_notify_access(), NotifyAccess::Main);
//! assert!(unit.warnings.is_empty());
//!
//! // Variables are expanded when the command is spawned:
//! let argv = herald_unit::expand_command(&cfg.exec_start[0], &cfg.environment);
//! assert_eq!(argv, ["/usr/bin/demo", "--greeting", "hello", "world", "--mode=fast"]);
//! ```
//!
//! What the crate covers:
//!
//! * the syntax of systemd.syntax(7): sections, assignments, comments,
//!   continuation lines (module `syntax`);
//! * the `[Unit]`, `[Service]` and `[Install]` directives herald uses,
//!   typed into [`UnitConfig`], with systemd's defaults, list resets and
//!   load-time checks (module `config`);
//! * command lines with prefixes, quoting and escapes, and spawn-time
//!   variable expansion ([`ExecCommand`], [`expand_command`]);
//! * `%` specifiers ([`SpecifierContext`], [`resolve_specifiers`]);
//! * environment files ([`parse_environment_file`]);
//! * unit search paths, templates, drop-ins and masking ([`load_unit`],
//!   [`list_units`]).
//!
//! Problems that make systemd refuse a unit are [`Error`]s, displayed as
//! `path:LINE: key: message`; problems systemd logs and ignores (unknown
//! keys, unparsable values, ...) are collected as [`Warning`]s.
//!
//! The crate has no side effects besides reading unit files: it spawns
//! nothing and looks up no users, hosts or paths; the facts it needs come
//! in through [`SpecifierContext`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod env_file;
mod error;
mod exec;
mod load;
mod name;
mod specifier;
mod syntax;
mod value;

pub use config::{
    EnvironmentFile, UnitConfig, WorkingDirectory, WorkingPath, DEFAULT_RESTART_SEC,
    DEFAULT_START_LIMIT_BURST, DEFAULT_START_LIMIT_INTERVAL, DEFAULT_TIMEOUT,
};
pub use env_file::{
    parse_environment_file, parse_environment_file_report, read_environment_file, EnvFile,
    EnvFileError, IgnoredAssignment,
};
pub use error::{Error, ErrorKind, Warning, WarningKind};
pub use exec::{
    expand_command, expand_command_report, quote_word, split_words, ExecCommand, Expansion,
    Privilege, SplitError,
};
pub use load::{list_units, load_unit, parse_unit_str, LoadedUnit, UnitParser};
pub use name::{normalize_name, NameError, UnitName, UNIT_NAME_MAX, UNIT_TYPES};
pub use specifier::{resolve_specifiers, SpecifierContext, SpecifierError};
pub use value::{
    env_name_is_valid, parse_bool, parse_timespan, user_group_name_is_valid, KillMode,
    NotifyAccess, Restart, ServiceType, Signal, TimespanError,
};
