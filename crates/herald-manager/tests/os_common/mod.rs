//! Helpers shared by the `os_*` integration tests.
#![allow(dead_code)]

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use herald_manager::cgroup::{unique_name, Cgroup, Hierarchy, ManagerCgroups};
use herald_manager::sys;

/// Whether we run with effective uid 0.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Report a skipped test. Under CI (env `CI` set) a skip is a failure.
pub fn skip(reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("test would be skipped under CI: {reason}");
    }
    // Written to the real stderr, not through eprintln!, so the test
    // harness's output capture does not hide it.
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

/// `CString` from `&str`.
pub fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// A close-on-exec pipe `(read, write)`.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap()
}

/// Read a descriptor to end-of-file.
pub fn read_all(fd: OwnedFd) -> String {
    let mut f = std::fs::File::from(fd);
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}

/// Number of open descriptors of this process.
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Safety cap for waits in tests (never used as synchronisation).
pub const CAP: Duration = Duration::from_secs(30);

/// Kills (SIGKILL) and reaps the process behind a pidfd on drop unless it was
/// already reaped; for test processes started without a cgroup.
pub struct KillOnDrop(pub Option<OwnedFd>);

impl KillOnDrop {
    pub fn new(pidfd: OwnedFd) -> Self {
        KillOnDrop(Some(pidfd))
    }
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_ref().unwrap().as_fd()
    }
    pub fn disarm(mut self) -> OwnedFd {
        self.0.take().unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(fd) = self.0.take() {
            let _ = sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
            let _ = sys::pidfd_wait(fd.as_fd());
        }
    }
}

/// Serialises the tests of one binary that move this process between
/// cgroups.
static CGROUP_LOCK: Mutex<()> = Mutex::new(());

/// A unique manager subtree `<mount>/<own>/herald-test-…` with this process
/// moved into its `manager` leaf. Dropping it (also while unwinding from a
/// failed assertion) kills whatever is left in the subtree — only processes
/// the test started — moves us back and removes the subtree.
pub struct TestCgroups {
    pub hierarchy: Hierarchy,
    pub mgr: Option<ManagerCgroups>,
    _lock: MutexGuard<'static, ()>,
}

impl TestCgroups {
    pub fn mgr(&self) -> &ManagerCgroups {
        self.mgr.as_ref().unwrap()
    }
    pub fn subtree(&self) -> &Cgroup {
        self.mgr().subtree()
    }
}

impl Drop for TestCgroups {
    fn drop(&mut self) {
        if let Some(mgr) = self.mgr.take() {
            let path = mgr.subtree().path();
            let res = mgr.teardown(true);
            if let Err(e) = res {
                if !std::thread::panicking() {
                    panic!("teardown of {} failed: {e}", path.display());
                }
                eprintln!("teardown of {} failed: {e}", path.display());
            }
        }
    }
}

/// Set up a test subtree, or skip (returning `None`) when not root or when
/// there is no usable cgroup v2 hierarchy.
pub fn cgroup_env() -> Option<TestCgroups> {
    if !is_root() {
        skip("cgroup tests need root");
        return None;
    }
    let hierarchy = match Hierarchy::discover() {
        Ok(h) => h,
        Err(e) => {
            skip(&format!("no usable cgroup v2 hierarchy: {e}"));
            return None;
        }
    };
    let lock = CGROUP_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // Re-read our cgroup under the lock (another test may have just moved us
    // back).
    let hierarchy = Hierarchy::discover().unwrap_or(hierarchy);
    let own = hierarchy.own_cgroup().expect("own cgroup");
    let mgr = match ManagerCgroups::create(&own, &unique_name("herald-test")) {
        Ok(m) => m,
        Err(e) if e.is_not_delegated() => {
            skip(&format!("cgroup v2 not delegated: {e}"));
            return None;
        }
        Err(e) => panic!("cannot create test subtree: {e}"),
    };
    Some(TestCgroups {
        hierarchy,
        mgr: Some(mgr),
        _lock: lock,
    })
}
