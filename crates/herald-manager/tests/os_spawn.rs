//! Spawning without a cgroup ("ancestry mode"), the exec report, pidfds.

mod os_common;

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use herald_manager::spawn::{
    find_in_path, read_exec_report, spawn, ChildSetupError, ExecReportError, SpawnError,
    SpawnRequest, Spawned,
};
use herald_manager::sys::{self, ExitStatus, PidfdInfoError, SetupStep};
use os_common::{c, pipe, read_all, KillOnDrop, CAP};

/// Run a command to completion, returning its stdout and exit status.
fn run(mut req: SpawnRequest<'_>) -> (String, ExitStatus) {
    let (r, w) = pipe();
    req.stdout = Some(w);
    let s = spawn(req).expect("spawn");
    read_exec_report(s.exec_report.as_fd()).expect("exec succeeded");
    let out = read_all(r);
    let st = sys::pidfd_wait(s.pidfd.as_fd()).unwrap();
    (out, st)
}

fn req(argv: &[&str]) -> SpawnRequest<'static> {
    let mut r = SpawnRequest::new(c(argv[0]));
    r.argv = argv.iter().map(|a| c(a)).collect();
    r
}

fn expect_setup_error(s: Spawned) -> ChildSetupError {
    let e = match read_exec_report(s.exec_report.as_fd()) {
        Err(ExecReportError::Setup(e)) => e,
        other => panic!("expected a setup error, got {other:?}"),
    };
    assert_eq!(
        sys::pidfd_wait(s.pidfd.as_fd()).unwrap(),
        ExitStatus::Exited(127)
    );
    e
}

#[test]
fn exec_report_success() {
    let s = spawn(req(&["/bin/true"])).unwrap();
    assert!(s.pid > 0);
    read_exec_report(s.exec_report.as_fd()).unwrap();
    assert_eq!(
        sys::pidfd_wait(s.pidfd.as_fd()).unwrap(),
        ExitStatus::Exited(0)
    );
    assert!(sys::is_cloexec(s.pidfd.as_fd()).unwrap());
    assert!(sys::is_cloexec(s.exec_report.as_fd()).unwrap());
}

#[test]
fn exec_report_enoent_at_execve() {
    let s = spawn(req(&["/nonexistent/herald-no-such-program"])).unwrap();
    let e = expect_setup_error(s);
    assert_eq!(e.step, SetupStep::Execve);
    assert_eq!(e.errno, libc::ENOENT);
    assert_eq!(e.io_error().kind(), std::io::ErrorKind::NotFound);
    assert!(e.to_string().contains("execve"), "{e}");
}

#[test]
fn exec_report_eacces_at_execve() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("not-executable");
    std::fs::write(&p, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = spawn(req(&[p.to_str().unwrap()])).unwrap();
    let e = expect_setup_error(s);
    assert_eq!((e.step, e.errno), (SetupStep::Execve, libc::EACCES));
}

#[test]
fn exec_report_bad_cwd() {
    let mut r = req(&["/bin/true"]);
    r.cwd = Some(c("/nonexistent/herald-no-such-dir"));
    let e = expect_setup_error(spawn(r).unwrap());
    assert_eq!((e.step, e.errno), (SetupStep::Chdir, libc::ENOENT));
}

#[test]
fn cwd_is_applied() {
    let mut r = req(&["/bin/pwd"]);
    r.cwd = Some(c("/usr/share"));
    let (out, st) = run(r);
    assert!(st.success());
    assert_eq!(out, "/usr/share\n");
}

#[test]
fn exec_report_nonblocking_and_malformed() {
    // Synthetic pipes exercise every branch of read_exec_report.
    let (r, w) = pipe();
    rustix::fs::fcntl_setfl(&r, rustix::fs::OFlags::NONBLOCK).unwrap();
    assert!(matches!(
        read_exec_report(r.as_fd()),
        Err(ExecReportError::WouldBlock)
    ));
    let mut report = Vec::new();
    report.extend_from_slice(&(SetupStep::Setuid as u32).to_ne_bytes());
    report.extend_from_slice(&libc::EPERM.to_ne_bytes());
    rustix::io::write(&w, &report).unwrap();
    match read_exec_report(r.as_fd()) {
        Err(ExecReportError::Setup(e)) => {
            assert_eq!((e.step, e.errno), (SetupStep::Setuid, libc::EPERM))
        }
        other => panic!("{other:?}"),
    }
    drop(w);
    read_exec_report(r.as_fd()).unwrap(); // EOF

    let (r, w) = pipe();
    rustix::io::write(&w, &[1, 2, 3]).unwrap();
    drop(w);
    assert!(matches!(
        read_exec_report(r.as_fd()),
        Err(ExecReportError::Malformed(3))
    ));
    let (r, w) = pipe();
    rustix::io::write(&w, &[0xff; 8]).unwrap();
    assert!(matches!(
        read_exec_report(r.as_fd()),
        Err(ExecReportError::Malformed(8))
    ));
}

#[test]
fn bare_name_is_looked_up_in_path() {
    let mut r = req(&["echo", "hello"]);
    r.env = vec![c("PATH=/nonexistent:relative/dir:/usr/bin:/bin")];
    let (out, st) = run(r);
    assert!(st.success());
    assert_eq!(out, "hello\n");

    let mut r = req(&["herald-surely-not-installed"]);
    r.env = vec![c("PATH=/usr/bin:/bin")];
    assert!(matches!(spawn(r), Err(SpawnError::NotFound(_))));
}

#[test]
fn find_in_path_table() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("tool");
    std::fs::write(&exe, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let noexec = dir.path().join("data");
    std::fs::write(&noexec, "").unwrap();
    std::fs::create_dir(dir.path().join("subdir")).unwrap();
    let d = dir.path().to_str().unwrap();
    let path = format!("/nonexistent::relative:{d}");
    let path = OsStr::new(&path);
    assert_eq!(find_in_path(OsStr::new("tool"), path), Some(exe.clone()));
    assert_eq!(find_in_path(OsStr::new("data"), path), None);
    assert_eq!(find_in_path(OsStr::new("subdir"), path), None);
    assert_eq!(find_in_path(OsStr::new(""), path), None);
    assert_eq!(
        find_in_path(OsStr::new("./x/y"), path),
        Some(PathBuf::from("./x/y"))
    );
    // First match wins.
    assert_eq!(
        find_in_path(OsStr::new("sh"), OsStr::new("/bin:/usr/bin")),
        Some(PathBuf::from("/bin/sh"))
    );
}

/// The child starts with default dispositions (the Rust runtime ignores
/// SIGPIPE in the parent), nothing blocked, in its own session, with
/// /dev/null on stdin and no descriptors beyond 0–2.
#[test]
fn child_process_state() {
    let (out, st) = run(req(&["/bin/cat", "/proc/self/status"]));
    assert!(st.success());
    for key in ["SigBlk:", "SigIgn:"] {
        let line = out.lines().find(|l| l.starts_with(key)).unwrap();
        let v = line[key.len()..].trim();
        assert!(v.chars().all(|ch| ch == '0'), "{line}");
    }

    let (out, _) = run(req(&["/bin/cat", "/proc/self/stat"]));
    let after_comm = &out[out.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after_comm.split(' ').collect();
    let pid: i32 = out.split(' ').next().unwrap().parse().unwrap();
    let (pgrp, session): (i32, i32) = (f[2].parse().unwrap(), f[3].parse().unwrap());
    assert_eq!(
        (pgrp, session),
        (pid, pid),
        "setsid() made it a session leader"
    );

    let (out, _) = run(req(&["/bin/readlink", "/proc/self/fd/0"]));
    assert_eq!(out, "/dev/null\n");

    // Besides stdio only descriptors that are not close-on-exec in this
    // process (inherited from whoever started the test) reach the child;
    // ls itself opens the directory as fd 3.
    let mut want = vec![0, 1, 2, 3];
    want.extend(inherited_fds());
    want.sort();
    want.dedup();
    // (stderr is given explicitly, in case ours is closed.)
    let (_err_r, err_w) = pipe();
    let mut r = req(&["/bin/ls", "/proc/self/fd"]);
    r.stderr = Some(err_w);
    let (out, _) = run(r);
    let mut fds: Vec<u32> = out.split_whitespace().map(|s| s.parse().unwrap()).collect();
    fds.sort();
    assert_eq!(
        fds, want,
        "only stdio and non-CLOEXEC descriptors are inherited"
    );
}

/// Our descriptors >= 3 without close-on-exec (`O_CLOEXEC` in fdinfo flags).
fn inherited_fds() -> Vec<u32> {
    let fds: Vec<u32> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.into_iter()
        .filter(|fd| *fd >= 3)
        .filter(|fd| {
            let Ok(info) = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")) else {
                return false;
            };
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
                .unwrap_or(0o2000000);
            flags & 0o2000000 == 0
        })
        .collect()
}

#[test]
fn environment_is_exact() {
    let mut r = req(&["/usr/bin/env"]);
    r.env = vec![c("A=1"), c("B=two words")];
    let (out, _) = run(r);
    assert_eq!(out, "A=1\nB=two words\n");
}

#[test]
fn stdin_and_stderr_redirected() {
    let (in_r, in_w) = pipe();
    let (err_r, err_w) = pipe();
    let mut r = req(&["/bin/sh", "-c", "read x; echo \"got $x\" >&2"]);
    r.stdin = Some(in_r);
    r.stderr = Some(err_w);
    let s = spawn(r).unwrap();
    read_exec_report(s.exec_report.as_fd()).unwrap();
    rustix::io::write(&in_w, b"line\n").unwrap();
    drop(in_w);
    assert_eq!(read_all(err_r), "got line\n");
    assert!(sys::pidfd_wait(s.pidfd.as_fd()).unwrap().success());
}

#[test]
fn credentials_are_dropped() {
    if !os_common::is_root() {
        os_common::skip("changing credentials needs root");
        return;
    }
    let mut r = req(&["/bin/sh", "-c", "echo $(id -u) $(id -g) $(id -G)"]);
    r.uid = Some(65534);
    r.gid = Some(65534);
    r.supplementary_groups = vec![65534, 4242];
    let (out, st) = run(r);
    assert!(st.success());
    let mut words: Vec<&str> = out.split_whitespace().collect();
    words[2..].sort();
    assert_eq!(words, vec!["65534", "65534", "4242", "65534"]);

    // Without supplementary groups given, root's are dropped.
    let mut r = req(&["/bin/cat", "/proc/self/status"]);
    r.uid = Some(65534);
    r.gid = Some(65534);
    let (out, _) = run(r);
    let groups = out.lines().find(|l| l.starts_with("Groups:")).unwrap();
    assert_eq!(groups.trim_end(), "Groups:");

    // A cwd only root may enter fails after setuid: chdir runs unprivileged.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut r = req(&["/bin/true"]);
    r.uid = Some(65534);
    r.gid = Some(65534);
    r.cwd = Some(c(dir.path().to_str().unwrap()));
    let e = expect_setup_error(spawn(r).unwrap());
    assert_eq!((e.step, e.errno), (SetupStep::Chdir, libc::EACCES));
}

#[test]
fn signal_wait_and_try_wait() {
    let s = spawn(req(&["/bin/sleep", "100"])).unwrap();
    read_exec_report(s.exec_report.as_fd()).unwrap();
    let guard = KillOnDrop::new(s.pidfd);
    assert_eq!(sys::pidfd_try_wait(guard.fd()).unwrap(), None);
    assert!(!sys::poll_readable(guard.fd(), Some(std::time::Duration::ZERO)).unwrap());
    sys::pidfd_send_signal(guard.fd(), libc::SIGTERM).unwrap();
    assert!(sys::poll_readable(guard.fd(), Some(CAP)).unwrap());
    let pidfd: OwnedFd = guard.disarm();
    assert_eq!(
        sys::pidfd_try_wait(pidfd.as_fd()).unwrap(),
        Some(ExitStatus::Signaled {
            signal: libc::SIGTERM,
            core_dumped: false
        })
    );
    // Already reaped.
    assert_eq!(
        sys::pidfd_try_wait(pidfd.as_fd())
            .unwrap_err()
            .raw_os_error(),
        Some(libc::ECHILD)
    );
    // Signalling a reaped process fails cleanly (no PID reuse hazard).
    assert_eq!(
        sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGTERM)
            .unwrap_err()
            .raw_os_error(),
        Some(libc::ESRCH)
    );
}

#[test]
fn pidfd_info_live_and_reaped() {
    let s = spawn(req(&["/bin/sleep", "100"])).unwrap();
    read_exec_report(s.exec_report.as_fd()).unwrap();
    let guard = KillOnDrop::new(s.pidfd);
    let info = sys::pidfd_info(guard.fd(), sys::PIDFD_INFO_PID | sys::PIDFD_INFO_CREDS).unwrap();
    assert!(info.has(sys::PIDFD_INFO_PID | sys::PIDFD_INFO_CREDS));
    assert_eq!(info.pid as i32, s.pid);
    assert_eq!(info.tgid as i32, s.pid);
    assert_eq!(info.ppid, std::process::id());
    assert_eq!(info.euid, rustix::process::geteuid().as_raw());
    assert!(info.cgroup_id().is_some(), "cgroupid is returned unasked");
    assert_eq!(info.exit_code(), None);
    drop(guard); // SIGKILL + reap

    let s = spawn(req(&["/bin/sh", "-c", "exit 3"])).unwrap();
    let st = sys::pidfd_wait(s.pidfd.as_fd()).unwrap();
    assert_eq!(st, ExitStatus::Exited(3));
    // Reaped: without PIDFD_INFO_EXIT the kernel says ESRCH ...
    assert!(matches!(
        sys::pidfd_info(s.pidfd.as_fd(), sys::PIDFD_INFO_PID),
        Err(PidfdInfoError::Gone)
    ));
    // ... with it, exit status and cgroup id survive.
    let info = sys::pidfd_info(s.pidfd.as_fd(), sys::PIDFD_INFO_EXIT).unwrap();
    assert_eq!(info.exit_code(), Some(3 << 8), "raw wait status");
    assert!(info.cgroup_id().is_some());
    assert!(!info.has(sys::PIDFD_INFO_PID));
}

#[test]
fn pidfs_inode_identifies_processes() {
    let a = spawn(req(&["/bin/true"])).unwrap();
    let b = spawn(req(&["/bin/true"])).unwrap();
    let ia = sys::pidfs_inode(a.pidfd.as_fd()).unwrap();
    let ib = sys::pidfs_inode(b.pidfd.as_fd()).unwrap();
    assert_ne!(ia, ib);
    // A second pidfd for the same process has the same inode (stable id).
    let again = sys::pidfd_open(a.pid).unwrap();
    assert_eq!(sys::pidfs_inode(again.as_fd()).unwrap(), ia);
    sys::pidfd_wait(a.pidfd.as_fd()).unwrap();
    sys::pidfd_wait(b.pidfd.as_fd()).unwrap();
    // Still the same after reaping.
    assert_eq!(sys::pidfs_inode(a.pidfd.as_fd()).unwrap(), ia);
    // Not a pidfd: refused rather than a meaningless number.
    let f = std::fs::File::open("/dev/null").unwrap();
    assert!(sys::pidfs_inode(f.as_fd()).is_err());
}

#[test]
fn child_subreaper_toggle() {
    sys::set_child_subreaper(true).unwrap();
    assert!(rustix::process::child_subreaper().unwrap().is_some());
    sys::set_child_subreaper(false).unwrap();
    assert!(rustix::process::child_subreaper().unwrap().is_none());
}

#[test]
fn low_numbered_stdio_sources_are_relocated() {
    // Pass a duplicate of our own stdout-like pipe end as stdout while it
    // happens to be numbered >= 3, and a pipe as stderr: both must arrive.
    let (r, w) = pipe();
    let w2 = w.try_clone().unwrap();
    let mut rq = req(&["/bin/sh", "-c", "echo out; echo err >&2"]);
    rq.stdout = Some(w);
    rq.stderr = Some(w2);
    let s = spawn(rq).unwrap();
    read_exec_report(s.exec_report.as_fd()).unwrap();
    assert_eq!(read_all(r), "out\nerr\n");
    sys::pidfd_wait(s.pidfd.as_fd()).unwrap();
}
