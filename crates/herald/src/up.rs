//! `herald up`: run services from unit files, start them in dependency order on
//! readiness, and supervise them until SIGTERM/SIGINT (or `herald ctl exit`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use herald_manager::manager::{CgroupMode, Manager, Options};

/// Run services from systemd-style unit files, each in its own cgroup, scheduling
/// dependents on readiness (READY=1).
#[derive(Debug, Parser)]
#[command(name = "herald up", version)]
struct Args {
    /// Unit directories (searched in order) and, optionally, the units to start.
    /// Arguments that are directories are unit directories; the others are unit names
    /// (`db` means `db.service`). With no unit named, every unit in the directories
    /// starts.
    #[arg(value_name = "UNIT_DIR|UNIT", required = true)]
    paths: Vec<OsString>,
    /// Where the notification socket (`notify`) and the control socket (`control`)
    /// live. Default: /run/herald as root, $XDG_RUNTIME_DIR/herald otherwise, or
    /// $HERALD_RUNTIME_DIR.
    #[arg(long, value_name = "DIR")]
    runtime_dir: Option<PathBuf>,
    /// Do not use cgroups even where they are writable: attribute notifications and
    /// stop services by process ancestry.
    #[arg(long)]
    no_cgroups: bool,
    /// Start the units, wait until every start job has finished, then stop them all
    /// and exit: 0 if every unit started, 1 otherwise. A readiness check for scripts
    /// and CI.
    #[arg(long)]
    once: bool,
}

/// Runs `herald up` with the arguments after `up`.
pub fn main(args: &[OsString]) -> ExitCode {
    let argv = std::iter::once(OsString::from("herald up")).chain(args.iter().cloned());
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    let mut unit_dirs = Vec::new();
    let mut units = Vec::new();
    for p in args.paths {
        let path = PathBuf::from(&p);
        if path.is_dir() {
            // Absolute, so %Y and the paths in messages do not depend on the cwd.
            unit_dirs.push(path.canonicalize().unwrap_or(path));
        } else if p.to_string_lossy().contains('/') {
            eprintln!("herald up: {}: no such directory", path.display());
            return ExitCode::from(2);
        } else {
            units.push(p.to_string_lossy().into_owned());
        }
    }
    let opts = Options {
        unit_dirs,
        units,
        runtime_dir: args
            .runtime_dir
            .unwrap_or_else(herald_manager::paths::default_runtime_dir),
        cgroups: if args.no_cgroups {
            CgroupMode::Off
        } else {
            CgroupMode::Auto
        },
        once: args.once,
    };
    match Manager::new(&opts) {
        Ok(m) => ExitCode::from(m.run() as u8),
        Err(e) => {
            eprintln!("herald up: {e}");
            ExitCode::FAILURE
        }
    }
}
