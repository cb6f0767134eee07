//! cgroup v2 tests: need root and a cgroup2 mount; each test works in its
//! own uniquely named subtree below our own cgroup, removed on drop (also
//! when an assertion fails). Skipped with a message otherwise (a failure
//! under CI).

mod os_common;

use std::os::fd::AsFd;
use std::path::Path;

use herald_manager::cgroup::{own_cgroup, CgroupError, ManagerCgroups};
use herald_manager::spawn::{read_exec_report, spawn, SpawnRequest};
use herald_manager::sys::{self, ExitStatus, PidfdInfoError};
use os_common::{c, cgroup_env, pipe, read_all, CAP};

fn req(argv: &[&str]) -> SpawnRequest<'static> {
    let mut r = SpawnRequest::new(c(argv[0]));
    r.argv = argv.iter().map(|a| c(a)).collect();
    r
}

fn proc_cgroup(pid: &str) -> std::path::PathBuf {
    own_cgroup(&std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap()).unwrap()
}

#[test]
fn manager_moves_into_its_leaf_and_back() {
    let Some(env) = cgroup_env() else { return };
    let mgr = env.mgr();
    assert!(mgr.subtree().exists());
    assert_eq!(
        mgr.manager().rel(),
        mgr.subtree().rel().join(ManagerCgroups::MANAGER_LEAF)
    );
    assert_eq!(proc_cgroup("self"), mgr.manager().cgroup_path());
    assert!(mgr
        .manager()
        .pids()
        .unwrap()
        .contains(&(std::process::id() as i32)));
    assert_eq!(mgr.original().cgroup_path(), env.hierarchy.own);

    let subtree = mgr.subtree().clone();
    let original = mgr.original().cgroup_path();
    let mut env = env;
    env.mgr.take().unwrap().teardown(false).unwrap();
    assert_eq!(proc_cgroup("self"), original);
    assert!(!subtree.exists());
}

/// CLONE_INTO_CGROUP: the child is in the service cgroup from its first
/// instruction, so even cat's own reading of /proc/self/cgroup shows it.
#[test]
fn spawn_into_cgroup_is_immediate() {
    let Some(env) = cgroup_env() else { return };
    let svc = env.mgr().service("cat.service").unwrap();
    let (r, w) = pipe();
    let mut rq = req(&["/bin/cat", "/proc/self/cgroup"]);
    rq.stdout = Some(w);
    rq.cgroup = Some(svc.dir_fd());
    let s = spawn(rq).unwrap();
    read_exec_report(s.exec_report.as_fd()).unwrap();
    let out = read_all(r);
    assert!(sys::pidfd_wait(s.pidfd.as_fd()).unwrap().success());
    let want = format!("0::{}", svc.cgroup_path().display());
    assert!(out.lines().any(|l| l == want), "{out:?} lacks {want:?}");

    // Without a cgroup fd the child starts next to the manager (ancestry
    // mode).
    let (r, w) = pipe();
    let mut rq = req(&["/bin/cat", "/proc/self/cgroup"]);
    rq.stdout = Some(w);
    let s = spawn(rq).unwrap();
    let out = read_all(r);
    sys::pidfd_wait(s.pidfd.as_fd()).unwrap();
    let want = format!("0::{}", env.mgr().manager().cgroup_path().display());
    assert!(out.lines().any(|l| l == want), "{out:?} lacks {want:?}");
}

/// The key property: PIDFD_GET_INFO reports the cgroup id of a process that
/// has exited *and been reaped*, and it equals the inode number of the
/// cgroup directory.
#[test]
fn pidfd_cgroupid_survives_reaping() {
    let Some(env) = cgroup_env() else { return };
    let svc = env.mgr().service("oneshot.service").unwrap();
    assert_eq!(svc.id(), svc.cgroup().id().unwrap());
    let mut rq = req(&["/bin/sh", "-c", "exit 7"]);
    rq.cgroup = Some(svc.dir_fd());
    let s = spawn(rq).unwrap();
    assert!(sys::poll_readable(s.pidfd.as_fd(), Some(CAP)).unwrap());

    // Exited, not yet reaped (zombie): answered from the task.
    let info = sys::pidfd_info(s.pidfd.as_fd(), sys::PIDFD_INFO_CGROUPID).unwrap();
    assert_eq!(info.cgroup_id(), Some(svc.id()));

    assert_eq!(
        sys::pidfd_wait(s.pidfd.as_fd()).unwrap(),
        ExitStatus::Exited(7)
    );
    assert!(!svc.is_populated().unwrap());

    // Reaped: only with PIDFD_INFO_EXIT ...
    assert!(matches!(
        sys::pidfd_info(s.pidfd.as_fd(), sys::PIDFD_INFO_CGROUPID),
        Err(PidfdInfoError::Gone)
    ));
    let info = sys::pidfd_info(
        s.pidfd.as_fd(),
        sys::PIDFD_INFO_CGROUPID | sys::PIDFD_INFO_EXIT,
    )
    .unwrap();
    assert!(info.has(sys::PIDFD_INFO_CGROUPID | sys::PIDFD_INFO_EXIT));
    assert_eq!(info.cgroupid, svc.id());
    assert_eq!(info.exit_code, 7 << 8);
    assert_eq!(sys::pidfd_cgroup_id(s.pidfd.as_fd()).unwrap(), svc.id());

    // Two processes: different pidfs inodes, same cgroup id.
    let mut rq = req(&["/bin/true"]);
    rq.cgroup = Some(svc.dir_fd());
    let t = spawn(rq).unwrap();
    sys::pidfd_wait(t.pidfd.as_fd()).unwrap();
    assert_ne!(
        sys::pidfs_inode(s.pidfd.as_fd()).unwrap(),
        sys::pidfs_inode(t.pidfd.as_fd()).unwrap()
    );
    assert_eq!(sys::pidfd_cgroup_id(t.pidfd.as_fd()).unwrap(), svc.id());

    // The cgroup can go away; the recorded id stays.
    svc.remove().unwrap();
    assert_eq!(
        sys::pidfd_cgroup_id(s.pidfd.as_fd()).unwrap(),
        info.cgroupid
    );
}

#[test]
fn running_process_cgroupid_matches_directory_inode() {
    let Some(env) = cgroup_env() else { return };
    let svc = env.mgr().service("sleeper.service").unwrap();
    let mut rq = req(&["/bin/sleep", "100"]);
    rq.cgroup = Some(svc.dir_fd());
    let s = spawn(rq).unwrap();
    let info = sys::pidfd_info(s.pidfd.as_fd(), 0).unwrap();
    assert_eq!(info.cgroup_id(), Some(svc.id()));
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(svc.path()).unwrap().ino(), svc.id());
    // Left running on purpose: teardown kills it via cgroup.kill.
}

#[test]
fn cgroup_kill_empties_the_cgroup() {
    let Some(env) = cgroup_env() else { return };
    let svc = env.mgr().service("sleep.service").unwrap();
    let mut rq = req(&["/bin/sleep", "100"]);
    rq.cgroup = Some(svc.dir_fd());
    let s = spawn(rq).unwrap();
    read_exec_report(s.exec_report.as_fd()).unwrap();
    assert!(svc.is_populated().unwrap());
    assert_eq!(svc.pids().unwrap(), vec![s.pid]);
    assert!(!sys::poll_readable(s.pidfd.as_fd(), Some(std::time::Duration::ZERO)).unwrap());

    svc.kill().unwrap();
    // The pidfd becomes readable once the process has exited; by then the
    // kernel has already taken it out of the cgroup (cgroup_exit runs
    // before the exit notification).
    assert!(sys::poll_readable(s.pidfd.as_fd(), Some(CAP)).unwrap());
    assert!(!svc.is_populated().unwrap());
    assert!(svc.pids().unwrap().is_empty());
    assert_eq!(
        sys::pidfd_wait(s.pidfd.as_fd()).unwrap(),
        ExitStatus::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        }
    );
    let path = svc.path();
    svc.remove().unwrap();
    assert!(!path.exists());
}

#[test]
fn kill_whole_tree_and_wait_unpopulated() {
    let Some(env) = cgroup_env() else { return };
    let svc = env.mgr().service("forking.service").unwrap();
    // A shell that forks two background sleepers and waits.
    let mut rq = req(&["/bin/sh", "-c", "sleep 100 & sleep 100 & wait"]);
    rq.cgroup = Some(svc.dir_fd());
    let s = spawn(rq).unwrap();
    read_exec_report(s.exec_report.as_fd()).unwrap();
    assert!(svc.is_populated().unwrap());
    svc.kill().unwrap();
    svc.wait_unpopulated(CAP).unwrap();
    assert!(svc.pids().unwrap().is_empty());
    sys::pidfd_wait(s.pidfd.as_fd()).unwrap();
    // Grandchildren were reparented (to PID 1 or a subreaper) and reaped
    // there; the cgroup is empty and removable.
    svc.remove().unwrap();
}

#[test]
fn populated_cgroup_is_not_removed() {
    let Some(env) = cgroup_env() else { return };
    let svc = env.mgr().service("busy.service").unwrap();
    let mut rq = req(&["/bin/sleep", "100"]);
    rq.cgroup = Some(svc.dir_fd());
    let s = spawn(rq).unwrap();
    read_exec_report(s.exec_report.as_fd()).unwrap();
    match svc.cgroup().remove() {
        Err(CgroupError::Busy { path }) => assert_eq!(path, svc.path()),
        other => panic!("expected Busy, got {other:?}"),
    }
    svc.kill().unwrap();
    sys::pidfd_wait(s.pidfd.as_fd()).unwrap();
    svc.remove().unwrap();
}

#[test]
fn teardown_kills_leftover_services() {
    let Some(mut env) = cgroup_env() else { return };
    let svc = env.mgr().service("leftover.service").unwrap();
    let mut rq = req(&["/bin/sleep", "100"]);
    rq.cgroup = Some(svc.dir_fd());
    let s = spawn(rq).unwrap();
    read_exec_report(s.exec_report.as_fd()).unwrap();
    let subtree = env.subtree().path();
    let mgr = env.mgr.take().unwrap();
    // Without kill, teardown refuses (after moving us back).
    match mgr.teardown(false) {
        Err(CgroupError::Busy { .. }) => {}
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(Path::new(&subtree).exists());
    // Dropping a ManagerCgroups kills and removes; do it via a fresh handle
    // on the same subtree.
    let own = env.hierarchy.own_cgroup().unwrap();
    let name = subtree.file_name().unwrap().to_str().unwrap().to_string();
    drop(svc);
    let again = ManagerCgroups::create(&own, &name).unwrap();
    drop(again);
    assert!(sys::poll_readable(s.pidfd.as_fd(), Some(CAP)).unwrap());
    assert_eq!(
        sys::pidfd_wait(s.pidfd.as_fd()).unwrap(),
        ExitStatus::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        }
    );
    assert!(!Path::new(&subtree).exists());
}

#[test]
fn service_names_are_escaped_and_reused() {
    let Some(env) = cgroup_env() else { return };
    let a = env.mgr().service("memory.service").unwrap();
    assert_eq!(a.path().file_name().unwrap(), "_memory.service");
    let b = env.mgr().service("memory.service").unwrap();
    assert_eq!(a.id(), b.id(), "existing cgroup is reused");
    assert!(env.mgr().service("../escape").is_err());
}
