//! `herald`: sd_notify readiness, done race-free.
//!
//! One binary, one file per subcommand. Invoked through a link named `systemd-notify`
//! it is that tool.
#![deny(unsafe_code)]

mod ctl;
mod getopt;
mod notify;
mod sys;
mod up;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "herald — service readiness notification (sd_notify), race-free

Usage:
  herald up [OPTIONS] UNIT_DIR... [UNIT...]        run services from unit files, in order, on readiness
  herald ctl [OPTIONS] COMMAND                     ask the running manager (list, status, start, stop, …)
  herald notify [OPTIONS...] [VARIABLE=VALUE...]   tell the manager (drop-in systemd-notify)
  herald --help | --version

Run 'herald COMMAND --help' for a command's options.
";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let argv0 = args.first().cloned().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "systemd-notify" {
        // glibc's getopt names the program as invoked.
        return notify::main(
            &argv0.to_string_lossy(),
            &args[1..],
            notify::Persona::SystemdNotify,
        );
    }
    match args.get(1).and_then(|a| a.to_str()) {
        Some("notify") => notify::main("herald notify", &args[2..], notify::Persona::Herald),
        Some("up") => up::main(&args[2..]),
        Some("ctl") => ctl::main(&args[2..]),
        Some("--version") => {
            println!("herald {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("herald: unknown command '{other}'\n\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
