//! `herald up` through real processes, sockets and cgroups (as root): scheduling on
//! readiness, race-free attribution, NotifyAccess, bad input, timeouts, cycles, unit
//! file errors, stopping.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use common::{skip_unless_root, Herald};
use herald_manager::api::JobKind;

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn started(unit: &str) -> impl Fn(&str) -> bool + '_ {
    move |l: &str| l.starts_with(&format!("Started {unit} "))
}

fn failed(unit: &str) -> impl Fn(&str) -> bool + '_ {
    move |l: &str| l.starts_with(&format!("Failed {unit}:"))
}

const DB: &str = "[Unit]
Description=slow database
[Service]
Type=notify
NotifyAccess=all
ExecStart=%Y/db.sh
";

const DB_SH: &str = r#"#!/bin/sh
echo db-before-ready >> "$EVENTS"
# Stay unready a while: a manager that started dependents early would show it.
sleep 0.3
"$HERALD" notify --ready --status="db ready"
exec sleep infinity
"#;

const API: &str = "[Unit]
Requires=db.service
After=db.service
[Service]
Type=notify
NotifyAccess=all
ExecStart=/bin/sh -c 'echo api-forked >> \"$EVENTS\"; \"$HERALD\" notify --ready; exec sleep infinity'
";

#[test]
fn dependents_start_strictly_after_ready() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let events = tempfile::NamedTempFile::new().unwrap();
    let env = format!(
        "[Service]\nEnvironment=EVENTS={}\n",
        events.path().display()
    );
    let mut h = Herald::start(
        &[
            ("db.service", DB),
            ("db.sh", DB_SH),
            ("api.service", API),
            ("db.service.d/events.conf", &env),
            ("api.service.d/events.conf", &env),
        ],
        &[],
    );
    h.expect_line(started("api.service"), "Started api.service");
    let ev = lines_of(events.path());
    assert_eq!(
        ev,
        ["db-before-ready", "api-forked"],
        "api forked only after db's READY"
    );
    let ready = h.position(started("db.service")).unwrap();
    let api_start = h.position(|l| l == "Starting api.service…").unwrap();
    assert!(ready < api_start, "{}", h.output());
    let db = h.status("db.service");
    assert_eq!(
        (db.active_state.as_str(), db.sub_state.as_str()),
        ("active", "running")
    );
    assert_eq!(db.status_text.as_deref(), Some("db ready"));
    assert!(
        db.ready_after_usec.unwrap() >= 300_000,
        "{:?}",
        db.ready_after_usec
    );
    assert!(h.stop().success());
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

const RACE_UNIT: &str = "[Service]
Type=notify
NotifyAccess=all
TimeoutStartSec=300
ExecStart=%Y/race.sh %i
";

/// The race: main forks a child that sends READY=1 (no barrier) and exits at once;
/// main reaps it. The test holds herald stopped (SIGSTOP) until every child has been
/// reaped, so herald reads each message only after its sender is gone: only the pidfd
/// that came with the message can say which unit it belongs to.
fn race_trials(trials: usize, sender: &str, burners: usize) {
    // HERALD_RACE_TRIALS runs the long version (e.g. 10000).
    let trials = std::env::var("HERALD_RACE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(trials);
    let dir = tempfile::tempdir().unwrap();
    // Readable by the unprivileged sender variant.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let script = format!(
        "#!/bin/sh\necho up > {d}/up-$1\nread go < {d}/go-$1\n{sender} &\nwait $!\necho done > {d}/reaped-$1\nexec sleep infinity\n",
        d = dir.path().display()
    );
    let names: Vec<String> = (0..trials).map(|i| format!("race@{i}.service")).collect();
    for i in 0..trials {
        for fifo in ["up", "go", "reaped"] {
            mkfifo(&dir.path().join(format!("{fifo}-{i}")));
        }
    }
    let names_ref: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut h = Herald::start(
        &[("race@.service", RACE_UNIT), ("race.sh", &script)],
        &names_ref,
    );
    let _load = common::Burners::start(burners);
    let herald = rustix::process::Pid::from_raw(h.pid() as i32).unwrap();
    // The notification queue holds 10 datagrams (net.unix.max_dgram_qlen) while herald
    // is stopped: release the senders 8 at a time.
    for batch in (0..trials).collect::<Vec<_>>().chunks(8) {
        // Each main process says it is up (and herald has spawned it) before herald is
        // stopped.
        for &i in batch {
            let mut s = String::new();
            std::fs::File::open(dir.path().join(format!("up-{i}")))
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            assert_eq!(s, "up\n");
        }
        rustix::process::kill_process(herald, rustix::process::Signal::STOP).unwrap();
        for &i in batch {
            std::fs::OpenOptions::new()
                .write(true)
                .open(dir.path().join(format!("go-{i}")))
                .unwrap()
                .write_all(b"go\n")
                .unwrap();
        }
        for &i in batch {
            let mut s = String::new();
            std::fs::File::open(dir.path().join(format!("reaped-{i}")))
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            assert_eq!(s, "done\n");
        }
        rustix::process::kill_process(herald, rustix::process::Signal::CONT).unwrap();
        for &i in batch {
            h.expect_line(started(&format!("race@{i}.service")), "race unit active");
        }
    }
    let lost = h
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("cannot find the unit"))
        .count();
    assert_eq!(lost, 0, "{}", h.output());
    for i in [0, trials - 1] {
        let s = h.status(&format!("race@{i}.service"));
        assert_eq!(s.active_state, "active");
        assert_eq!(s.notifications_accepted, 1);
    }
    assert!(h.stop().success());
}

const PY_READY: &str = "/usr/bin/python3 -c 'import os,socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b\"READY=1\", os.environ[\"NOTIFY_SOCKET\"])'";

#[test]
fn ready_from_an_exited_and_reaped_child_is_never_lost() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    race_trials(200, PY_READY, 0);
}

#[test]
fn ready_from_an_exited_and_reaped_child_under_cpu_load() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    race_trials(200, PY_READY, 2);
}

#[test]
fn ready_from_unprivileged_systemd_notify_no_block_is_never_lost() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    // As nobody, systemd-notify 252 cannot claim its parent's PID: its credentials are
    // its own, and it has exited and been reaped before herald reads.
    race_trials(200, "setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/systemd-notify --no-block --ready", 0);
}

#[test]
fn ready_with_default_barrier_from_unprivileged_systemd_notify() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let units = [
        ("b@.service", "[Service]\nType=notify\nNotifyAccess=all\nExecStart=/bin/sh -c 'setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/systemd-notify --ready; exec sleep infinity'\n"),
    ];
    let names: Vec<String> = (0..200).map(|i| format!("b@{i}.service")).collect();
    let names_ref: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut h = Herald::start(&units, &names_ref);
    for n in &names {
        h.expect_line(started(n), "barrier unit active");
    }
    assert_eq!(
        h.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("cannot find the unit"))
            .count(),
        0
    );
    assert!(h.stop().success());
}

#[test]
fn notify_access_main_rejects_a_child_and_all_accepts_it() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let child = PY_READY.replace("READY=1", "STATUS=from child");
    // Written as a script to keep the quoting readable.
    let script = format!("#!/bin/sh\n{child} &\nwait $!\nexec /usr/bin/python3 -c 'import os,socket,time; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b\"READY=1\", os.environ[\"NOTIFY_SOCKET\"]); time.sleep(1e9)'\n");
    let unit = |access: &str| {
        format!("[Service]\nType=notify\nNotifyAccess={access}\nTimeoutStartSec=30\nExecStart=%Y/access.sh\n")
    };
    let (m, a) = (unit("main"), unit("all"));
    let mut h = Herald::start(
        &[
            ("access.sh", &script),
            ("main.service", &m),
            ("all.service", &a),
        ],
        &[],
    );
    h.expect_line(started("main.service"), "main.service active");
    h.expect_line(started("all.service"), "all.service active");
    let main = h.status("main.service");
    assert_eq!(main.status_text, None, "the child's STATUS= was refused");
    assert_eq!(main.rejected.len(), 1, "{:?}", main.rejected);
    assert!(
        main.rejected[0]
            .reason
            .starts_with("NotifyAccess=main: PID"),
        "{:?}",
        main.rejected[0]
    );
    assert_eq!(main.rejected[0].message, "STATUS=from child");
    assert_ne!(Some(main.rejected[0].pid), main.main_pid);
    let all = h.status("all.service");
    assert_eq!(all.status_text.as_deref(), Some("from child"));
    assert!(all.rejected.is_empty());
    assert!(h.stop().success());

    // NotifyAccess=none: a service that is given no socket gets nothing through even
    // if it finds the socket.
    let runtime = Herald::runtime_dir();
    let socket = runtime.path().join("notify");
    let sender = PY_READY.replace("READY=1", "STATUS=hello").replace(
        "os.environ[\"NOTIFY_SOCKET\"]",
        &format!("\"{}\"", socket.display()),
    );
    let script = format!("#!/bin/sh\n{sender}\nexec sleep infinity\n");
    let none_unit = "[Service]\nNotifyAccess=none\nExecStart=%Y/none.sh\n";
    let h = Herald::start_in(
        runtime,
        &[("none.sh", &script), ("none.service", none_unit)],
        &[],
        |c| c,
    );
    h.expect_line(
        |l| l.contains("none.service: refused notification"),
        "refusal",
    );
    let s = h.status("none.service");
    assert_eq!(s.notify_access, "none");
    assert_eq!(s.status_text, None);
    assert!(
        s.rejected[0].reason.starts_with("NotifyAccess=none"),
        "{:?}",
        s.rejected
    );
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn fd_list(pid: u32) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .map(|e| {
            format!(
                "{}→{}",
                e.file_name().to_string_lossy(),
                std::fs::read_link(e.path())
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            )
        })
        .collect();
    v.sort();
    v
}

const HOSTILE_PY: &str = r#"
import array, os, socket, sys
addr = os.environ["NOTIFY_SOCKET"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
def send(data, fds=()):
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    try:
        s.sendmsg([data], anc, 0, addr)
        return "sent"
    except OSError as e:
        return e.strerror
r, w = os.pipe()
print("oversize", send(b"STATUS=" + b"x" * 5000), flush=True)
print("nul", send(b"READY=1\0STATUS=x"), flush=True)
print("barrier0", send(b"BARRIER=1"), flush=True)
print("barrier2", send(b"BARRIER=1", [r, w]), flush=True)
print("barrier+ready", send(b"BARRIER=1\nREADY=1", [w]), flush=True)
print("fds", send(b"FDSTORE=1", [r] * 253), flush=True)
# The kernel refuses more than 253 fds (SCM_MAX_FD) in one message: 800 cannot be sent.
print("800fds", send(b"FDSTORE=1", [r] * 800), flush=True)
print("bad field", send(b"MAINPID=abc\nSTATUS=survived"), flush=True)
input()  # wait for the test to count herald's fds
print("ready", send(b"READY=1"), flush=True)
os.execv("/bin/sleep", ["sleep", "infinity"])
"#;

#[test]
fn bad_input_is_dropped_with_a_reason_and_leaks_nothing() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("go");
    mkfifo(&fifo);
    let unit = format!(
        "[Service]\nType=notify\nNotifyAccess=all\nTimeoutStartSec=60\nExecStart=/bin/sh -c 'exec /usr/bin/python3 %Y/hostile.py < {}'\n",
        fifo.display()
    );
    let h = Herald::start(
        &[("hostile.py", HOSTILE_PY), ("hostile.service", &unit)],
        &[],
    );
    h.expect_line(|l| l == "Starting hostile.service…", "start");
    // Hold the fifo open for writing: the script blocks in input() until we write.
    let mut go = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    h.expect_line(|l| l.contains("bad field sent"), "hostile messages sent");
    // And from a process in no unit at all: this test.
    let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
    sock.send_to(b"READY=1", h.notify_socket()).unwrap();
    h.expect_line(
        |l| l.contains("cannot find the unit of PID"),
        "unattributed message dropped",
    );
    // Everything so far has been read (the unattributed one was sent last).
    let baseline = fd_list(h.pid());
    h.expect_line(
        |l| l.contains("800fds Invalid argument"),
        "the kernel refuses 800 fds",
    );
    let s = h.status("hostile.service");
    assert_eq!(s.active_state, "activating", "no READY got through yet");
    let reasons: Vec<&str> = s.rejected.iter().map(|r| r.reason.as_str()).collect();
    for want in [
        "exceeds the 4096-byte limit",
        "embedded NUL",
        "BARRIER=1 with 0 file descriptors",
        "BARRIER=1 with 2 file descriptors",
        "BARRIER=1 combined with other assignments",
        "253 file descriptors for the fd store, but FileDescriptorStoreMax=0",
        "invalid MAINPID=abc",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(want)),
            "no rejection {want:?} in {reasons:#?}"
        );
    }
    assert_eq!(
        s.status_text.as_deref(),
        Some("survived"),
        "the valid part of a message with a bad field is kept"
    );
    go.write_all(b"go\n").unwrap();
    h.expect_line(
        started("hostile.service"),
        "the next valid READY is processed",
    );
    let after = open_fds(h.pid());
    assert!(
        after <= baseline.len(),
        "every received fd was closed: before {baseline:?}, after {:?}",
        fd_list(h.pid())
    );
}

#[test]
fn start_timeout_fails_the_unit_and_its_dependents() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let h = Herald::start(
        &[
            ("silent.service", "[Service]\nType=notify\nTimeoutStartSec=1s\nExecStart=/bin/sleep infinity\n"),
            ("dependent.service", "[Unit]\nRequires=silent.service\nAfter=silent.service\n[Service]\nExecStart=/bin/sleep infinity\n"),
        ],
        &[],
    );
    h.expect_line(failed("silent.service"), "timeout failure");
    h.expect_line(failed("dependent.service"), "dependency failure");
    let s = h.status("silent.service");
    assert_eq!(
        (s.active_state.as_str(), s.result.as_str()),
        ("failed", "timeout")
    );
    assert!(s.failure.as_deref().unwrap().contains("start timeout"));
    assert!(s.processes.is_empty(), "the timed-out service was stopped");
    let d = h.status("dependent.service");
    assert_eq!(
        (d.active_state.as_str(), d.result.as_str()),
        ("failed", "dependency")
    );
    assert!(
        d.failure.as_deref().unwrap().contains("silent.service"),
        "{:?}",
        d.failure
    );
    assert!(
        !h.output().contains("Starting dependent.service"),
        "never forked"
    );
}

#[test]
fn extend_timeout_usec_extends_the_start_timeout() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let script = "#!/bin/sh\n\"$HERALD\" notify EXTEND_TIMEOUT_USEC=5000000\nsleep 1.5\n\"$HERALD\" notify --ready\nexec sleep infinity\n";
    let h = Herald::start(
        &[("slow.sh", script), ("slow.service", "[Service]\nType=notify\nNotifyAccess=all\nTimeoutStartSec=1s\nExecStart=%Y/slow.sh\n")],
        &[],
    );
    h.expect_line(
        started("slow.service"),
        "started despite TimeoutStartSec=1s",
    );
    assert!(h.status("slow.service").ready_after_usec.unwrap() >= 1_500_000);
}

#[test]
fn ordering_cycles_and_unit_file_errors_are_named_and_the_rest_starts() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let h = Herald::start(
        &[
            ("a.service", "[Unit]\nAfter=b.service\n[Service]\nExecStart=/bin/sleep infinity\n"),
            ("b.service", "[Unit]\nAfter=a.service\n[Service]\nExecStart=/bin/sleep infinity\n"),
            ("broken.service", "[Service]\nType=notify\nExecStart=/bin/true\nTimeoutStartSec=forever\nNotifyAccess=sometimes\nBogusKey=1\n[Unit\n"),
            ("warned.service", "[Service]\nExecStart=/bin/sleep infinity\nBogusKey=1\n"),
            ("fine.service", "[Service]\nExecStart=/bin/sleep infinity\n"),
        ],
        &[],
    );
    h.expect_line(started("fine.service"), "the unrelated unit starts");
    let cycle = h.expect_line(|l| l.contains("ordering cycle"), "cycle error");
    assert!(
        cycle.contains("a.service") && cycle.contains("b.service"),
        "{cycle}"
    );
    let broken = h.expect_line(
        |l| l.contains("failed to load broken.service"),
        "unit file error",
    );
    assert!(
        broken.contains("broken.service:7"),
        "names file and line: {broken}"
    );
    // An unknown key is a warning naming file and line; that unit still starts.
    let warn = h.expect_line(|l| l.contains("BogusKey"), "unknown key warning");
    assert!(warn.contains("warned.service:3"), "{warn}");
    h.expect_line(started("warned.service"), "a unit with a warning starts");
    for u in ["a.service", "b.service", "broken.service"] {
        let s = h.status(u);
        assert_eq!(s.active_state, "failed", "{u}");
        assert!(
            !h.output().contains(&format!("Starting {u}")),
            "{u} never forked"
        );
    }
}

#[test]
fn sigterm_stops_units_in_reverse_order_and_cleans_up() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let mut h = Herald::start(
        &[
            ("db.service", "[Service]\nExecStart=/bin/sleep infinity\n"),
            (
                "api.service",
                "[Unit]\nRequires=db.service\nAfter=db.service\n[Service]\nType=notify\nNotifyAccess=all\nExecStart=/bin/sh -c 'sleep infinity & \"$HERALD\" notify --ready; wait'\n",
            ),
        ],
        &[],
    );
    h.expect_line(started("api.service"), "api active");
    let cgroup = common::cgroup2_mount()
        .unwrap()
        .join(h.cgroup.clone().unwrap().strip_prefix("/").unwrap());
    assert!(cgroup.join("api.service").exists());
    let api_procs = std::fs::read_to_string(cgroup.join("api.service/cgroup.procs")).unwrap();
    assert!(
        api_procs.lines().count() >= 2,
        "api's shell and its background child are in its cgroup: {api_procs}"
    );
    assert!(h.stop().success());
    let out = h.output();
    let (api, db) = (
        out.find("Stopped api.service").unwrap(),
        out.find("Stopped db.service").unwrap(),
    );
    assert!(api < db, "api (ordered after db) stops first:\n{out}");
    assert!(!cgroup.exists(), "herald removed its cgroups");
    assert!(
        !h.notify_socket().exists() && !h.control_socket().exists(),
        "and its sockets"
    );
}

#[test]
fn control_jobs_stop_start_restart() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let h = Herald::start(
        &[
            ("db.service", "[Service]\nType=notify\nNotifyAccess=all\nExecStart=/bin/sh -c '\"$HERALD\" notify --ready; exec sleep infinity'\n"),
            ("api.service", "[Unit]\nRequires=db.service\nAfter=db.service\n[Service]\nExecStart=/bin/sleep infinity\n"),
        ],
        &[],
    );
    h.expect_line(started("api.service"), "api active");
    let first = h.status("db.service").main_pid;
    let r = h.job(JobKind::Stop, "db.service");
    assert!(r.ok, "{r:?}");
    assert_eq!(
        h.status("api.service").active_state,
        "inactive",
        "what requires db stops with it"
    );
    assert_eq!(h.status("db.service").active_state, "inactive");
    let r = h.job(JobKind::Start, "api.service");
    assert!(r.ok, "{r:?}");
    assert_eq!(
        h.status("db.service").active_state,
        "active",
        "starting api starts db"
    );
    let r = h.job(JobKind::Restart, "db");
    assert!(r.ok, "{r:?}");
    let db = h.status("db.service");
    assert_eq!(db.active_state, "active");
    assert_ne!(db.main_pid, first);
    let r = h.job(JobKind::Reload, "db.service");
    assert!(!r.ok && r.error.unwrap().contains("no ExecReload="));
    let r = h.request(&herald_manager::api::Request::Status {
        units: vec!["nope".into()],
    });
    assert!(!r.ok && r.error.unwrap().contains("nope.service could not be found"));
}

#[test]
fn mainpid_reloading_stopping_errno_status() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    // The main process starts a daemon, hands it over with MAINPID=, and exits.
    let script = r#"#!/bin/sh
sleep infinity &
"$HERALD" notify --ready --status="handed over" MAINPID=$! ERRNO=2
exit 0
"#;
    let h = Herald::start(
        &[
            ("handover.sh", script),
            (
                "handover.service",
                "[Service]\nType=notify\nNotifyAccess=all\nExecStart=%Y/handover.sh\n",
            ),
        ],
        &[],
    );
    h.expect_line(|l| l.contains("main PID is now"), "MAINPID accepted");
    h.expect_line(started("handover.service"), "active");
    let s = h.status("handover.service");
    assert_eq!(s.active_state, "active");
    assert_eq!(s.status_text.as_deref(), Some("handed over"));
    assert_eq!(s.errno, Some(2));
    let main = s.main_pid.unwrap();
    assert!(std::fs::read_to_string(format!("/proc/{main}/cmdline"))
        .unwrap()
        .starts_with("sleep"));

    // RELOADING=1 then READY=1; STOPPING=1 then exit.
    let script = r#"#!/bin/sh
"$HERALD" notify --ready
read x < "$FIFO"
"$HERALD" notify --reloading
read x < "$FIFO"
"$HERALD" notify --ready
read x < "$FIFO"
"$HERALD" notify --stopping
read x < "$FIFO"
exit 0
"#;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let unit = format!("[Service]\nType=notify\nNotifyAccess=all\nEnvironment=FIFO={}\nExecStart=%Y/lifecycle.sh\n", fifo.display());
    let h = Herald::start(&[("lifecycle.sh", script), ("life.service", &unit)], &[]);
    h.expect_line(started("life.service"), "active");
    let step = |expect: &str| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .unwrap()
            .write_all(b"x\n")
            .unwrap();
        h.expect_line(|l| l.contains(expect), expect);
    };
    step("life.service is reloading");
    assert_eq!(h.status("life.service").active_state, "reloading");
    step("Reloaded life.service");
    assert_eq!(h.status("life.service").active_state, "active");
    step("life.service is stopping");
    assert_eq!(h.status("life.service").active_state, "deactivating");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .unwrap()
        .write_all(b"x\n")
        .unwrap();
    h.expect_line(
        |l| l.contains("life.service finished") || l.starts_with("Stopped life.service"),
        "stopped after exit",
    );
    let s = h.status("life.service");
    assert_eq!(
        (s.active_state.as_str(), s.result.as_str()),
        ("inactive", "success")
    );
}

#[test]
fn no_cgroups_mode_attributes_by_ancestry() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let mut h = Herald::start(
        &[
            ("db.service", DB.replace("%Y/db.sh", "%Y/db2.sh").as_str()),
            (
                "db2.sh",
                "#!/bin/sh\n\"$HERALD\" notify --ready\nexec sleep infinity\n",
            ),
        ],
        &["--no-cgroups"],
    );
    assert!(h.cgroup.is_none());
    h.expect_line(started("db.service"), "started without cgroups");
    assert_eq!(h.status("db.service").cgroup, None);
    assert!(h.stop().success());
}

#[test]
fn the_example_runs_as_an_unprivileged_user_without_cgroups() {
    if skip_unless_root("switching to an unprivileged user") {
        return;
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/basic");
    let copy = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&examples).unwrap().flatten() {
        std::fs::copy(e.path(), copy.path().join(e.file_name())).unwrap();
    }
    let runtime = tempfile::tempdir().unwrap();
    for d in [copy.path(), runtime.path()] {
        assert!(Command::new("chown")
            .arg("-R")
            .arg("65534:65534")
            .arg(d)
            .status()
            .unwrap()
            .success());
    }
    // The herald binary must be reachable by nobody: copy it too.
    let bin = copy.path().join("herald");
    std::fs::copy(common::herald_bin(), &bin).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["up", "--once", "--runtime-dir"])
        .arg(runtime.path())
        .arg(copy.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("running without cgroups"),
        "says which guarantees it loses:\n{text}"
    );
    for u in ["db", "migrate", "api", "web"] {
        assert!(
            text.contains(&format!("Started {u}.service")),
            "{u}:\n{text}"
        );
    }
}

fn free_port() -> u16 {
    // A port free for both TCP and UDP on loopback (unbound listens on both).
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn have(program: &str) -> bool {
    let ok = Path::new(program).exists();
    if !ok {
        eprintln!("skipped: {program} is not installed");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs {program}: this must not skip"
        );
    }
    ok
}

#[test]
fn real_daemons_redis_and_unbound_become_active_and_stop_clean() {
    if skip_unless_root("cgroup tests")
        || !have("/usr/bin/redis-server")
        || !have("/usr/sbin/unbound")
    {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let (redis_port, dns_port) = (free_port(), free_port());
    let redis = format!(
        "[Unit]\nDescription=Redis, unmodified\n[Service]\nType=notify\nTimeoutStartSec=30\nExecStart=/usr/bin/redis-server --supervised systemd --daemonize no --port {redis_port} --bind 127.0.0.1 --save \"\" --appendonly no --dir {d}\n",
        d = data.path().display()
    );
    let conf = data.path().join("unbound.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n  interface: 127.0.0.1\n  port: {dns_port}\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  pidfile: \"\"\n  directory: \"{d}\"\n  use-syslog: no\n  do-ip6: no\nremote-control:\n  control-enable: no\n",
            d = data.path().display()
        ),
    )
    .unwrap();
    let unbound = format!(
        "[Service]\nType=notify\nTimeoutStartSec=30\nExecStart=/usr/sbin/unbound -d -c {}\n",
        conf.display()
    );
    let mut h = Herald::start(
        &[("redis.service", &redis), ("unbound.service", &unbound)],
        &[],
    );
    h.expect_line(started("redis.service"), "redis active");
    h.expect_line(started("unbound.service"), "unbound active");
    let r = h.status("redis.service");
    assert_eq!(r.active_state, "active");
    assert!(
        r.status_text
            .as_deref()
            .unwrap_or("")
            .contains("Ready to accept connections"),
        "{:?}",
        r.status_text
    );
    // It really serves.
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", redis_port)).unwrap();
    conn.write_all(b"PING\r\n").unwrap();
    let mut pong = [0u8; 7];
    conn.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"+PONG\r\n");
    let u = h.status("unbound.service");
    assert_eq!(u.active_state, "active");
    let mount = common::cgroup2_mount().unwrap();
    let cg = |s: &herald_manager::api::UnitStatus| {
        mount.join(s.cgroup.clone().unwrap().trim_start_matches('/'))
    };
    let (redis_cg, unbound_cg) = (cg(&r), cg(&u));
    for (unit, path) in [
        ("redis.service", &redis_cg),
        ("unbound.service", &unbound_cg),
    ] {
        assert!(path.join("cgroup.procs").exists());
        let r = h.job(JobKind::Stop, unit);
        assert!(r.ok, "{r:?}");
        let s = h.status(unit);
        assert_eq!(
            (s.active_state.as_str(), s.result.as_str()),
            ("inactive", "success"),
            "{unit}: {s:?}"
        );
        assert!(s.processes.is_empty());
        assert!(
            !path.exists(),
            "{unit}: its cgroup is gone, nothing left in it"
        );
    }
    assert!(h.stop().success());
}

#[test]
fn the_readme_example_runs() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/basic");
    let runtime = tempfile::tempdir().unwrap();
    let out = Command::new(common::herald_bin())
        .args(["up", "--once", "--runtime-dir"])
        .arg(runtime.path())
        .arg(&examples)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let pos = |l: &str| {
        text.find(l)
            .unwrap_or_else(|| panic!("no {l:?} in\n{text}"))
    };
    assert!(pos("Started db.service") < pos("Starting migrate.service"));
    assert!(pos("Started migrate.service") < pos("Starting api.service"));
    assert!(pos("Started api.service") < pos("Starting web.service"));
    assert!(pos("Stopped web.service") < pos("Stopped db.service"));
    assert!(text.contains("running units under cgroup"));
}

#[test]
fn herald_ctl_shows_status_like_systemctl() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let h = Herald::start(
        &[("db.service", "[Unit]\nDescription=The database\n[Service]\nType=notify\nNotifyAccess=all\nExecStart=/bin/sh -c '\"$HERALD\" notify --ready --status=\"Serving 3 clients\"; exec sleep infinity'\n")],
        &[],
    );
    h.expect_line(started("db.service"), "db active");
    let ctl = |args: &[&str]| {
        Command::new(common::herald_bin())
            .arg("ctl")
            .arg("--runtime-dir")
            .arg(h.runtime.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = ctl(&["status", "db"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("● db.service - The database"), "{text}");
    assert!(text.contains("Active: active (running) since "), "{text}");
    assert!(text.contains("Status: \"Serving 3 clients\""), "{text}");
    assert!(
        text.contains(&format!(
            "Main PID: {}",
            h.status("db.service").main_pid.unwrap()
        )),
        "{text}"
    );
    let out = ctl(&["status", "nope"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unit nope.service could not be found."));
    let out = ctl(&["--json", "list"]);
    let r: herald_manager::api::Response = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        r.ok && r
            .units
            .iter()
            .any(|u| u.name == "db.service" && u.active_state == "active")
    );
    let out = ctl(&["stop", "db"]);
    assert_eq!(out.status.code(), Some(0));
    let out = ctl(&["status", "db"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "inactive: exit 3 like systemctl"
    );
}

#[test]
fn orphans_are_reaped() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    // The subshell exits at once; its child, blocked on the fifo, is reparented to herald.
    let unit = format!("[Service]\nType=notify\nNotifyAccess=all\nExecStart=/bin/sh -c '(cat {} > /dev/null &); \"$HERALD\" notify --ready; exec sleep infinity'\n", fifo.display());
    let h = Herald::start(&[("orphan.service", &unit)], &[]);
    h.expect_line(started("orphan.service"), "active");
    let herald_pid = h.pid() as i32;
    let children = || -> Vec<(i32, char)> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                let rest = &stat[stat.rfind(')')? + 2..];
                let mut f = rest.split_whitespace();
                let state = f.next()?.chars().next()?;
                let ppid: i32 = f.next()?.parse().ok()?;
                (ppid == herald_pid).then_some((pid, state))
            })
            .collect()
    };
    let orphan = children()
        .into_iter()
        .map(|(p, _)| p)
        .find(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .unwrap_or_default()
                .starts_with("cat")
        })
        .expect("the orphan is herald's child now");
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(orphan).unwrap(),
        rustix::process::PidfdFlags::empty(),
    )
    .unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .unwrap()
        .write_all(b"bye\n")
        .unwrap();
    // Wait for it to exit (the pidfd becomes readable), then let herald answer a request:
    // its SIGCHLD is handled before a control request that arrives after it.
    let mut p = [rustix::event::PollFd::new(
        &pidfd,
        rustix::event::PollFlags::IN,
    )];
    rustix::event::poll(&mut p, None).unwrap();
    let _ = h.status("orphan.service");
    assert!(
        !children().iter().any(|&(p, s)| p == orphan || s == 'Z'),
        "no zombie remains: {:?}",
        children()
    );
}

#[test]
fn restart_user_killsignal_and_stop_timeout() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("runs");
    let flaky = format!(
        "[Service]\nType=notify\nNotifyAccess=all\nRestart=on-failure\nRestartSec=100ms\nExecStart=/bin/sh -c 'echo run >> {c}; [ $(wc -l < {c}) -ge 2 ] || exit 3; \"$HERALD\" notify --ready; exec sleep infinity'\n",
        c = counter.display()
    );
    let h = Herald::start(
        &[
            ("flaky.service", &flaky),
            ("nobody.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nUser=nobody\nExecStart=/bin/sh -c 'echo uid=$(id -u) home=$HOME user=$USER'\n"),
            ("int.service", "[Service]\nType=notify\nNotifyAccess=all\nKillSignal=SIGINT\nExecStart=/bin/sh -c 'trap \"echo got INT; exit 0\" INT; \"$HERALD\" notify --ready; while :; do sleep 0.05; done'\n"),
            ("stubborn.service", "[Service]\nType=notify\nNotifyAccess=all\nTimeoutStopSec=1s\nExecStart=/bin/sh -c 'trap \"\" TERM; \"$HERALD\" notify --ready; while :; do sleep 0.05; done'\n"),
        ],
        &[],
    );
    h.expect_line(
        |l| l.starts_with("Scheduling restart of flaky.service"),
        "restart scheduled",
    );
    h.expect_line(started("flaky.service"), "active after one restart");
    assert_eq!(lines_of(&counter).len(), 2);
    h.expect_line(
        |l| l.contains("uid=65534 home=/nonexistent user=nobody"),
        "User= applied",
    );
    h.expect_line(started("int.service"), "int active");
    assert!(h.job(JobKind::Stop, "int.service").ok);
    h.expect_line(|l| l.contains("got INT"), "KillSignal=SIGINT delivered");
    h.expect_line(started("stubborn.service"), "stubborn active");
    let r = h.job(JobKind::Stop, "stubborn.service");
    assert!(r.ok, "{r:?}");
    assert!(
        h.output()
            .contains("stubborn.service: processes remain after SIGTERM; killing them"),
        "{}",
        h.output()
    );
    let s = h.status("stubborn.service");
    assert_eq!(s.active_state, "inactive");
    assert!(s.processes.is_empty());
}

#[test]
fn real_daemon_haproxy_master_worker_starts_reloads_and_stops() {
    if skip_unless_root("cgroup tests") || !have("/usr/sbin/haproxy") {
        return;
    }
    // haproxy -Ws sends RELOADING=1 before its first READY=1, and its own PID as MAINPID.
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = data.path().join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!("global\n  maxconn 100\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\nfrontend web\n  bind 127.0.0.1:{port}\n  http-request return status 200 content-type text/plain string \"ok\"\n"),
    )
    .unwrap();
    let unit = format!("[Service]\nType=notify\nExecStart=/usr/sbin/haproxy -Ws -f {}\nExecReload=/bin/kill -USR2 $MAINPID\nKillMode=mixed\n", cfg.display());
    let mut h = Herald::start(&[("haproxy.service", &unit)], &[]);
    h.expect_line(started("haproxy.service"), "haproxy active");
    let get = || {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut body = String::new();
        c.read_to_string(&mut body).unwrap();
        body
    };
    assert!(get().ends_with("ok"));
    let before = h.status("haproxy.service");
    assert!(before.rejected.is_empty(), "{:?}", before.rejected);
    let r = h.job(JobKind::Reload, "haproxy.service");
    assert!(r.ok, "{r:?}");
    // haproxy announces its own reload: RELOADING=1 … READY=1.
    h.expect_line(|l| l == "haproxy.service is reloading", "RELOADING=1");
    let main = before.main_pid;
    // The second "Reloaded" line is the one READY=1 produced (the first came when
    // ExecReload= finished).
    let reloaded = std::cell::Cell::new(0);
    h.expect_line(
        |l| {
            if l == "Reloaded haproxy.service" {
                reloaded.set(reloaded.get() + 1);
            }
            reloaded.get() >= 2
        },
        "READY=1 after the reload",
    );
    assert_eq!(
        h.status("haproxy.service").main_pid,
        main,
        "the master stays the main process"
    );
    assert!(get().ends_with("ok"));
    let cgroup = common::cgroup2_mount()
        .unwrap()
        .join(before.cgroup.unwrap().trim_start_matches('/'));
    assert!(h.stop().success());
    assert!(!cgroup.exists(), "nothing left in its cgroup");
}

#[test]
fn watchdog_pings_keep_a_service_and_silence_fails_it() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    // Pings while the test keeps writing lines, then falls silent.
    let script = format!(
        "#!/bin/sh\necho \"WATCHDOG_USEC=$WATCHDOG_USEC WATCHDOG_PID=$WATCHDOG_PID pid=$$\"\n\"$HERALD\" notify --ready\nwhile read line; do \"$HERALD\" notify WATCHDOG=1; echo pinged; done < {}\nexec sleep infinity\n",
        fifo.display()
    );
    let unit = "[Service]\nType=notify\nNotifyAccess=all\nWatchdogSec=1s\nExecStart=%Y/dog.sh\n";
    let trigger = "[Service]\nType=notify\nNotifyAccess=all\nWatchdogSec=1h\nExecStart=/bin/sh -c '\"$HERALD\" notify --ready; \"$HERALD\" notify WATCHDOG=trigger; exec sleep infinity'\n";
    let h = Herald::start(
        &[
            ("dog.sh", &script),
            ("dog.service", unit),
            ("trigger.service", trigger),
        ],
        &[],
    );
    let env = h.expect_line(
        |l| l.contains("WATCHDOG_USEC=1000000"),
        "WATCHDOG_USEC in the environment",
    );
    // WATCHDOG_PID is the main process's own PID (the shell, before it execs).
    let field = |k: &str| {
        env.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .map(str::to_owned)
    };
    assert_eq!(field("WATCHDOG_PID="), field("pid="), "{env}");
    assert!(field("pid=").is_some_and(|p| !p.is_empty()));
    h.expect_line(started("dog.service"), "active");
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    for _ in 0..3 {
        w.write_all(b"ping\n").unwrap();
        h.expect_line(|l| l.ends_with("pinged"), "pinged");
    }
    assert_eq!(h.status("dog.service").active_state, "active");
    // Silence: the watchdog fires (SIGABRT), the unit fails with result watchdog.
    h.expect_line(
        |l| l.starts_with("dog.service: watchdog timeout: no WATCHDOG=1 within"),
        "watchdog fired",
    );
    h.expect_line(failed("dog.service"), "failed");
    let s = h.status("dog.service");
    assert_eq!(
        (s.active_state.as_str(), s.result.as_str()),
        ("failed", "watchdog")
    );
    h.expect_line(
        |l| l.starts_with("trigger.service: watchdog timeout: the service asked for it"),
        "WATCHDOG=trigger",
    );
    h.expect_line(failed("trigger.service"), "trigger failed");
    assert_eq!(h.status("trigger.service").result, "watchdog");
    drop(w);
}

#[test]
fn a_second_manager_on_the_same_runtime_directory_is_refused() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let h = Herald::start(
        &[("a.service", "[Service]\nExecStart=/bin/sleep infinity\n")],
        &[],
    );
    h.expect_line(started("a.service"), "first manager up");
    let units = tempfile::tempdir().unwrap();
    let out = Command::new(common::herald_bin())
        .args(["up", "--runtime-dir"])
        .arg(h.runtime.path())
        .arg(units.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another herald is running"),
        "{out:?}"
    );
    assert_eq!(
        h.status("a.service").active_state,
        "active",
        "the first one still answers"
    );
}

#[test]
fn a_flood_of_refused_messages_is_counted_not_logged_line_by_line() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    // A child floods 5000 messages NotifyAccess=main refuses, then the main process says READY.
    let flood = "/usr/bin/python3 -c 'import os,socket; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); [s.sendto(b\"STATUS=spam\", os.environ[\"NOTIFY_SOCKET\"]) for _ in range(5000)]'";
    let script = format!("#!/bin/sh\n{flood} &\nwait $!\nexec /usr/bin/python3 -c 'import os,socket,time; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b\"READY=1\", os.environ[\"NOTIFY_SOCKET\"]); time.sleep(1e9)'\n");
    let h = Herald::start(
        &[
            ("spam.sh", &script),
            (
                "spam.service",
                "[Service]\nType=notify\nExecStart=%Y/spam.sh\n",
            ),
        ],
        &[],
    );
    h.expect_line(
        started("spam.service"),
        "READY still processed after the flood",
    );
    let s = h.status("spam.service");
    assert_eq!(s.notifications_refused, 5000);
    assert_eq!(s.rejected.len(), 16, "the last 16 are kept");
    assert_eq!(s.status_text, None);
    let logged = h
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("refused notification"))
        .count();
    assert!(logged <= 100 + 13, "{logged} log lines for 5000 refusals");
    assert!(h.output().contains("(4096 so far)"));
}

const FD_STORE_PY: &str = r#"
import array, os, socket, sys
addr = os.environ["NOTIFY_SOCKET"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
def send(data, fds=()):
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    s.sendmsg([data], anc, 0, addr)
if os.environ.get("LISTEN_PID") == str(os.getpid()):
    names = os.environ["LISTEN_FDNAMES"]
    text = os.read(3, 100).decode()
    print(f"second run: LISTEN_FDS={os.environ['LISTEN_FDS']} names={names} fd3={text!r}", flush=True)
    send(b"READY=1")
    os.execv("/bin/sleep", ["sleep", "infinity"])
r, w = os.pipe()
os.write(w, b"kept across restarts")
send(b"FDSTORE=1\nFDNAME=greeting", [r])
send(b"READY=1")
print("first run: stored the pipe; exiting to be restarted", flush=True)
sys.exit(1)
"#;

#[test]
fn the_fd_store_keeps_fds_across_a_restart() {
    if skip_unless_root("cgroup tests") {
        return;
    }
    let unit = "[Service]\nType=notify\nFileDescriptorStoreMax=4\nRestart=on-failure\nRestartSec=50ms\nExecStart=/usr/bin/python3 %Y/store.py\n";
    let h = Herald::start(&[("store.py", FD_STORE_PY), ("store.service", unit)], &[]);
    h.expect_line(|l| l.contains("first run: stored the pipe"), "first run");
    let second = h.expect_line(
        |l| l.contains("second run:"),
        "restarted with the stored fd",
    );
    assert!(
        second.contains("LISTEN_FDS=1 names=greeting fd3='kept across restarts'"),
        "{second}"
    );
    let starts = std::cell::Cell::new(0);
    h.expect_line(
        |l| {
            if l.starts_with("Started store.service") {
                starts.set(starts.get() + 1);
            }
            starts.get() == 2
        },
        "active again",
    );
    let s = h.status("store.service");
    assert_eq!(s.fd_store, ["greeting"]);
    assert!(h.job(JobKind::Stop, "store.service").ok);
    assert!(
        h.status("store.service").fd_store.is_empty(),
        "stopping flushes the store"
    );
}
