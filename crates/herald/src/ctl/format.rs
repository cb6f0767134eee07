//! What `herald ctl` prints: pure functions from the manager's records to text.
//!
//! Nothing here reads the clock, the environment or the terminal: the caller passes the
//! current time, whether to color, and the time zone, so every layout is tested byte for
//! byte. The layouts follow systemctl's and journalctl's, with herald's additions (time to
//! readiness, notification counts, rejected notifications).

use herald_manager::api::{ExitInfo, JobOutcome, LogLine, ProcessInfo, UnitStatus};

use super::time::{
    format_clock, format_relative, format_short, format_span, format_timestamp, TimeZone,
};

/// systemd's `ansi_highlight_green()`.
const GREEN: &str = "\x1b[0;1;32m";
/// systemd's `ansi_highlight_red()`.
const RED: &str = "\x1b[0;1;31m";
const UNDERLINE: &str = "\x1b[0;4m";
const NORMAL: &str = "\x1b[0m";

/// The black circle systemctl marks units with.
const DOT: &str = "●";

fn paint(text: &str, ansi: Option<&str>, color: bool) -> String {
    match ansi {
        Some(on) if color => format!("{on}{text}{NORMAL}"),
        _ => text.to_owned(),
    }
}

/// The highlight for an active state: green when up, red when failed.
fn state_color(active_state: &str) -> Option<&'static str> {
    match active_state {
        "active" | "reloading" => Some(GREEN),
        "failed" => Some(RED),
        _ => None,
    }
}

/// `text` with control characters (other than tab) shown as `\xNN` or `\u{NNNN}`, so a
/// process cannot move the cursor or recolor the terminal through `herald ctl`.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push(c),
            c if c.is_control() => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// A notification message on one unambiguous line: `\n` as `\n`, a backslash as `\\`,
/// tab and carriage return as `\t` and `\r`, other control characters as `\xNN` or
/// `\u{NNNN}`.
pub fn escape_message(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    if c.is_ascii() {
        out.push_str(&format!("\\x{:02x}", c as u32));
    } else {
        out.push_str(&format!("\\u{{{:04x}}}", c as u32));
    }
}

/// The text of an errno value without Rust's ` (os error N)` suffix: `No such file or
/// directory`.
pub fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

/// systemd's name for an exit status, for the classes systemctl shows (C library and
/// systemd's own): `1` is `FAILURE`, `203` is `EXEC`.
pub fn exit_status_name(status: i32) -> Option<&'static str> {
    Some(match status {
        0 => "SUCCESS",
        1 => "FAILURE",
        200 => "CHDIR",
        201 => "NICE",
        202 => "FDS",
        203 => "EXEC",
        204 => "MEMORY",
        205 => "LIMITS",
        206 => "OOM_ADJUST",
        207 => "SIGNAL_MASK",
        208 => "STDIN",
        209 => "STDOUT",
        210 => "CHROOT",
        211 => "IOPRIO",
        212 => "TIMERSLACK",
        213 => "SECUREBITS",
        214 => "SETSCHEDULER",
        215 => "CPUAFFINITY",
        216 => "GROUP",
        217 => "USER",
        218 => "CAPABILITIES",
        219 => "CGROUP",
        220 => "SETSID",
        221 => "CONFIRM",
        222 => "STDERR",
        224 => "PAM",
        225 => "NETWORK",
        226 => "NAMESPACE",
        227 => "NO_NEW_PRIVILEGES",
        228 => "SECCOMP",
        229 => "SELINUX_CONTEXT",
        230 => "PERSONALITY",
        231 => "APPARMOR",
        232 => "ADDRESS_FAMILIES",
        233 => "RUNTIME_DIRECTORY",
        235 => "CHOWN",
        236 => "SMACK_PROCESS_LABEL",
        237 => "KEYRING",
        238 => "STATE_DIRECTORY",
        239 => "CACHE_DIRECTORY",
        240 => "LOGS_DIRECTORY",
        241 => "CONFIGURATION_DIRECTORY",
        242 => "NUMA_POLICY",
        243 => "CREDENTIALS",
        245 => "BPF",
        255 => "EXCEPTION",
        _ => return None,
    })
}

/// A Linux signal's name without `SIG`: `15` is `TERM`.
pub fn signal_name(signal: i32) -> Option<&'static str> {
    const NAMES: [&str; 31] = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
        "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    usize::try_from(signal)
        .ok()
        .and_then(|s| s.checked_sub(1))
        .and_then(|i| NAMES.get(i))
        .copied()
}

/// How a process ended, as systemctl says it: `code=exited, status=1/FAILURE`,
/// `code=killed, signal=TERM`, `code=dumped, signal=SEGV`.
pub fn describe_exit(exit: &ExitInfo) -> String {
    match exit.code.as_str() {
        "killed" | "dumped" => {
            let signal = exit
                .signal
                .clone()
                .or_else(|| signal_name(exit.status).map(str::to_owned))
                .unwrap_or_else(|| exit.status.to_string());
            format!("code={}, signal={signal}", exit.code)
        }
        code => match exit_status_name(exit.status) {
            Some(name) if code == "exited" => format!("code=exited, status={}/{name}", exit.status),
            _ => format!("code={code}, status={}", exit.status),
        },
    }
}

/// The name a process goes by: the last path component of its first word.
fn short_name(command: &str) -> Option<&str> {
    let argv0 = command.split_whitespace().next()?;
    argv0.rsplit('/').next().filter(|n| !n.is_empty())
}

/// The name of process `pid`: from its current command line when the manager lists it
/// (what it is now, after any exec, as systemctl's comm), else from `command`.
fn process_name<'a>(
    pid: u32,
    command: Option<&'a str>,
    processes: &'a [ProcessInfo],
) -> Option<&'a str> {
    processes
        .iter()
        .find(|p| p.pid == pid && !p.command.is_empty())
        .map(|p| p.command.as_str())
        .or(command)
        .and_then(short_name)
}

/// The `list` table: a `●` before failed units, columns UNIT, LOAD, ACTIVE, SUB, READY
/// and DESCRIPTION, a legend, and the count.
pub fn format_list(units: &[UnitStatus], color: bool) -> String {
    let count = match units.len() {
        1 => "1 loaded unit listed.\n".to_owned(),
        n => format!("{n} loaded units listed.\n"),
    };
    if units.is_empty() {
        return count;
    }
    // Each cell: its text, and its highlight when coloring.
    type Cell = (String, Option<&'static str>);
    let header: Vec<Cell> = ["UNIT", "LOAD", "ACTIVE", "SUB", "READY", "DESCRIPTION"]
        .iter()
        .map(|h| (h.to_string(), None))
        .collect();
    let rows: Vec<(bool, Vec<Cell>)> = units
        .iter()
        .map(|u| {
            let failed = u.active_state == "failed";
            let state = if failed { Some(RED) } else { None };
            let load = if u.load_state == "loaded" {
                None
            } else {
                Some(RED)
            };
            let ready = u
                .ready_after_usec
                .map_or_else(|| "-".to_owned(), format_span);
            let cells = vec![
                (sanitize(&u.name), None),
                (u.load_state.clone(), load),
                (u.active_state.clone(), state),
                (u.sub_state.clone(), state),
                (ready, None),
                (sanitize(u.description.as_deref().unwrap_or_default()), None),
            ];
            (failed, cells)
        })
        .collect();
    let mut widths = header
        .iter()
        .map(|(h, _)| h.chars().count())
        .collect::<Vec<_>>();
    for (_, cells) in &rows {
        for (w, (text, _)) in widths.iter_mut().zip(cells) {
            *w = (*w).max(text.chars().count());
        }
    }
    let line = |cells: &[Cell]| {
        let last = cells.len() - 1;
        let mut out = String::new();
        for (i, (text, ansi)) in cells.iter().enumerate() {
            let pad = if i == last {
                0
            } else {
                widths[i] - text.chars().count()
            };
            out.push_str(&paint(text, *ansi, color));
            out.extend(std::iter::repeat_n(' ', pad));
            if i != last {
                out.push(' ');
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = String::new();
    let head = format!("  {}", line(&header));
    out.push_str(&paint(&head, Some(UNDERLINE), color));
    out.push('\n');
    for (failed, cells) in &rows {
        let marker = if *failed {
            paint(DOT, Some(RED), color)
        } else {
            " ".to_owned()
        };
        out.push_str(&format!("{marker} {}\n", line(cells)));
    }
    out.push_str(concat!(
        "\n",
        "LOAD   = Whether the unit file was found and parsed.\n",
        "ACTIVE = The high-level activation state, a generalization of SUB.\n",
        "SUB    = The low-level activation state.\n",
        "READY  = Time from the start of the start job to readiness (READY=1 for Type=notify).\n",
    ));
    out.push_str(&count);
    out
}

/// One unit's `status` block, systemctl's layout with herald's lines (`Ready:`,
/// `Notify:`, rejected notifications). Ends with a newline; blocks are separated by an
/// empty line.
pub fn format_status(unit: &UnitStatus, now_usec: u64, color: bool, tz: &TimeZone) -> String {
    // ● name - description
    let dot = paint(DOT, state_color(&unit.active_state), color);
    let mut out = format!("{dot} {}", sanitize(&unit.name));
    if let Some(desc) = unit
        .description
        .as_deref()
        .filter(|d| !d.is_empty() && *d != unit.name)
    {
        out.push_str(&format!(" - {}", sanitize(desc)));
    }
    out.push('\n');

    let mut fields: Vec<(&str, String)> = Vec::new();

    // Loaded: loaded (/path/x.service; drop-in: /path/x.service.d/a.conf)
    let load_color = if unit.load_state == "loaded" {
        None
    } else {
        Some(RED)
    };
    let mut loaded = paint(&unit.load_state, load_color, color);
    let mut details = Vec::new();
    if let Some((file, dropins)) = unit.source_paths.split_first() {
        details.push(file.clone());
        if !dropins.is_empty() {
            let label = if dropins.len() == 1 {
                "drop-in"
            } else {
                "drop-ins"
            };
            details.push(format!("{label}: {}", dropins.join(", ")));
        }
    }
    if let Some(err) = &unit.load_error {
        details.push(format!("Reason: {err}"));
    }
    if !details.is_empty() {
        loaded.push_str(&format!(" ({})", sanitize(&details.join("; "))));
    }
    fields.push(("Loaded", loaded));

    // Active: active (running) since …; 5s ago
    let state = if unit.sub_state == unit.active_state || unit.sub_state.is_empty() {
        unit.active_state.clone()
    } else {
        format!("{} ({})", unit.active_state, unit.sub_state)
    };
    let mut active = paint(&state, state_color(&unit.active_state), color);
    if !unit.result.is_empty() && unit.result != "success" {
        active.push_str(&format!(" (Result: {})", unit.result));
    }
    if let Some(since) = unit.state_since_usec {
        active.push_str(&format!(
            " since {}; {}",
            format_timestamp(since, tz),
            format_relative(now_usec, since)
        ));
    }
    fields.push(("Active", active));

    if let Some(failure) = &unit.failure {
        fields.push(("Failure", sanitize(failure)));
    }
    if let Some(ready) = unit.ready_after_usec {
        fields.push(("Ready", format!("{} after start", format_span(ready))));
    }

    // Main PID: 1234 (redis-server), or 1234 (code=killed, signal=TERM) once it is gone;
    // then the control process.
    let mut main = String::new();
    if let Some(pid) = unit.main_pid {
        main.push_str(&pid.to_string());
        let running = unit.main_exit.is_none() || unit.processes.iter().any(|p| p.pid == pid);
        match &unit.main_exit {
            Some(exit) if !running => main.push_str(&format!(" ({})", describe_exit(exit))),
            _ => {
                if let Some(name) = process_name(pid, unit.main_command.as_deref(), &unit.processes)
                {
                    main.push_str(&format!(" ({})", sanitize(name)));
                }
            }
        }
    } else if let Some(exit) = &unit.main_exit {
        main.push_str(&format!("({})", describe_exit(exit)));
    }
    let mut control = String::new();
    if let Some(pid) = unit.control_pid {
        control.push_str(&pid.to_string());
        if let Some(name) = process_name(pid, None, &unit.processes) {
            control.push_str(&format!(" ({})", sanitize(name)));
        }
    }
    match (main.is_empty(), control.is_empty()) {
        (false, true) => fields.push(("Main PID", main)),
        (false, false) => fields.push(("Main PID", format!("{main}; Control PID: {control}"))),
        (true, false) => fields.push(("Control PID", control)),
        (true, true) => {}
    }

    if let Some(text) = unit.status_text.as_deref().filter(|t| !t.is_empty()) {
        fields.push(("Status", format!("\"{}\"", sanitize(text))));
    }
    if let Some(errno) = unit.errno.filter(|&e| e > 0) {
        fields.push(("Error", format!("{errno} ({})", strerror(errno as i32))));
    }
    fields.push((
        "Notify",
        format!(
            "access={}, {} accepted, {} rejected",
            unit.notify_access,
            unit.notifications_accepted,
            unit.notifications_refused.max(unit.rejected.len() as u64)
        ),
    ));
    // CGroup: /herald-abc/db.service, then its processes as a tree (systemctl omits an
    // empty cgroup). Without cgroups, the processes the manager knows of.
    if !unit.processes.is_empty() {
        match &unit.cgroup {
            Some(cgroup) => fields.push(("CGroup", sanitize(cgroup))),
            None => fields.push(("Processes", String::new())),
        }
    }
    for (label, value) in &fields {
        out.push_str(format!("{label:>11}: {value}").trim_end());
        out.push('\n');
    }
    let last = unit.processes.len().saturating_sub(1);
    for (i, p) in unit.processes.iter().enumerate() {
        let branch = if i == last { "└─" } else { "├─" };
        out.push_str(&format!(
            "{:13}{branch}{} {}\n",
            "",
            p.pid,
            sanitize(&p.command)
        ));
    }

    if !unit.rejected.is_empty() {
        out.push_str("\nRejected notifications:\n");
        for r in &unit.rejected {
            out.push_str(&format!(
                "  {} pid {}: {}: {}\n",
                format_clock(r.at_usec, tz),
                r.pid,
                sanitize(&r.reason),
                escape_message(&r.message)
            ));
        }
    }
    out
}

/// The `status` output for several units: their blocks, separated by an empty line.
pub fn format_statuses(units: &[&UnitStatus], now_usec: u64, color: bool, tz: &TimeZone) -> String {
    units
        .iter()
        .map(|u| format_status(u, now_usec, color, tz))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line per job that did not succeed, in systemctl's words:
/// `Job for api.service failed because <reason>. See "herald ctl status api.service" for
/// details.` Jobs that are `done`, `queued` or `skipped` print nothing.
pub fn format_job_failures(jobs: &[JobOutcome]) -> String {
    let mut out = String::new();
    for job in jobs {
        let unit = sanitize(&job.unit);
        // Failures read "… failed because <reason>"; other endings take the reason in
        // parentheses ("was canceled (replaced by a stop job)").
        let (head, causal) = match job.result.as_str() {
            "done" | "queued" | "skipped" => continue,
            "failed" => (format!("Job for {unit} failed"), true),
            "timeout" => (format!("Job for {unit} timed out"), true),
            "dependency" => (format!("A dependency job for {unit} failed"), true),
            "canceled" => (format!("Job for {unit} was canceled"), false),
            other => (
                format!("Job for {unit} ended with result '{}'", sanitize(other)),
                false,
            ),
        };
        let reason = job
            .reason
            .as_deref()
            .map(|r| r.trim().trim_end_matches('.'));
        let because = match reason {
            Some(r) if !r.is_empty() && causal => format!(" because {}", sanitize(r)),
            Some(r) if !r.is_empty() => format!(" ({})", sanitize(r)),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{head}{because}. See \"herald ctl status {unit}\" for details.\n"
        ));
    }
    out
}

/// journalctl's short style: `Dec 04 16:30:01 db.service[1234]: text` for what a
/// process wrote (any stream), `Dec 04 16:30:01 db.service[herald]: text`
/// for what the manager logged about the unit; `-- No entries --` when there is none.
pub fn format_logs(lines: &[LogLine], tz: &TimeZone) -> String {
    if lines.is_empty() {
        return "-- No entries --\n".to_owned();
    }
    let mut out = String::new();
    for line in lines {
        let who = if line.stream == "herald" {
            "herald".to_owned()
        } else {
            line.pid.to_string()
        };
        out.push_str(&format!(
            "{} {}[{who}]: {}\n",
            format_short(line.at_usec, tz),
            sanitize(&line.unit),
            sanitize(&line.text)
        ));
    }
    out
}
