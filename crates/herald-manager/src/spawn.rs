//! Starting service processes.
//!
//! [`spawn`] starts a process with `clone3(2)` — directly inside a cgroup
//! (`CLONE_INTO_CGROUP`) when one is given, otherwise in the manager's cgroup
//! ("ancestry mode") — and always obtains a pidfd (`CLONE_PIDFD`). It also
//! returns the read end of a close-on-exec *exec-report* pipe: if any setup
//! step in the child or the `execve(2)` itself fails, the child writes the
//! failed step and `errno` there and exits with status 127; if `execve`
//! succeeds, the pipe's write end is closed by the exec and the reader sees
//! end-of-file with no data. That is how `Type=exec` learns that the binary
//! was really started ([`read_exec_report`]).
//!
//! Everything the child needs (C strings, pointer arrays, descriptors) is
//! prepared before the clone, so the child allocates nothing. The child
//! closes no descriptors explicitly: every descriptor the manager opens is
//! close-on-exec, and only the requested standard streams are `dup2`ed onto
//! 0, 1 and 2 (without close-on-exec).

#![deny(missing_docs)]

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::pipe::PipeFlags;

use crate::sys::{self, ExecPlan, SetupStep, EXEC_REPORT_LEN};

/// The search path used when the environment has no `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to start and how.
#[derive(Debug)]
pub struct SpawnRequest<'a> {
    /// The program. A name without `/` is looked up in the `PATH` of
    /// [`env`](Self::env) (or [`DEFAULT_PATH`]) by the manager before the
    /// clone; see [`find_in_path`].
    pub program: CString,
    /// The argument vector. Empty means `[program]`.
    pub argv: Vec<CString>,
    /// The complete environment, as `NAME=value` strings.
    pub env: Vec<CString>,
    /// Working directory, changed to after dropping privileges.
    pub cwd: Option<CString>,
    /// User id to switch to (`setuid`).
    pub uid: Option<u32>,
    /// Group id to switch to (`setgid`).
    pub gid: Option<u32>,
    /// Supplementary groups. Whenever `uid`, `gid` or this list is given,
    /// `setgroups(2)` is called with exactly this list — an empty list drops
    /// all of the manager's supplementary groups.
    pub supplementary_groups: Vec<u32>,
    /// Standard input; `None` means `/dev/null`.
    pub stdin: Option<OwnedFd>,
    /// Standard output; `None` inherits the manager's.
    pub stdout: Option<OwnedFd>,
    /// Standard error; `None` inherits the manager's.
    pub stderr: Option<OwnedFd>,
    /// A cgroup v2 directory (see `ServiceCgroup::dir_fd`) to start the
    /// process in; `None` starts it in the manager's own cgroup.
    pub cgroup: Option<BorrowedFd<'a>>,
    /// Environment variables set to the child's own PID (`WATCHDOG_PID`, `LISTEN_PID`).
    pub env_own_pid: Vec<&'static str>,
    /// Descriptors the child gets as 3, 4, … (socket activation, the fd store).
    pub pass_fds: Vec<BorrowedFd<'a>>,
}

impl SpawnRequest<'_> {
    /// A request to run `program` with `argv = [program]`, an empty
    /// environment and everything else defaulted.
    pub fn new(program: CString) -> Self {
        SpawnRequest {
            argv: vec![program.clone()],
            program,
            env: Vec::new(),
            cwd: None,
            uid: None,
            gid: None,
            supplementary_groups: Vec::new(),
            stdin: None,
            stdout: None,
            stderr: None,
            cgroup: None,
            env_own_pid: Vec::new(),
            pass_fds: Vec::new(),
        }
    }
}

/// A started process.
#[derive(Debug)]
pub struct Spawned {
    /// Its process id.
    pub pid: i32,
    /// A pidfd for it (close-on-exec): poll for exit, `waitid(P_PIDFD)`,
    /// `pidfd_send_signal`, `PIDFD_GET_INFO`.
    pub pidfd: OwnedFd,
    /// Read end of the exec-report pipe (close-on-exec, blocking); see
    /// [`read_exec_report`].
    pub exec_report: OwnedFd,
}

/// Why [`spawn`] could not start a process. (Failures *in the child* are
/// reported through the exec-report pipe instead.)
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// A bare program name was not found in the search path.
    #[error("program {0:?} not found in PATH")]
    NotFound(CString),
    /// Opening `/dev/null` for standard input failed.
    #[error("cannot open /dev/null: {0}")]
    DevNull(#[source] io::Error),
    /// Creating the exec-report pipe failed.
    #[error("cannot create the exec-report pipe: {0}")]
    Pipe(#[source] io::Error),
    /// Preparing a descriptor for the child failed.
    #[error("cannot prepare a descriptor for the child: {0}")]
    Descriptor(#[source] io::Error),
    /// `clone3(2)` failed (e.g. `EBUSY`/`EOPNOTSUPP` for an unusable cgroup,
    /// `EAGAIN` for a process limit, `ENOSYS` before Linux 5.3).
    #[error("clone3 failed: {0}")]
    Clone(#[source] io::Error),
}

/// A setup step in the child failed with `errno`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} failed in the child: {}", .step.name(), io::Error::from_raw_os_error(*.errno))]
pub struct ChildSetupError {
    /// The failed step.
    pub step: SetupStep,
    /// The `errno` it failed with.
    pub errno: i32,
}

impl ChildSetupError {
    /// The `errno` as an [`io::Error`].
    pub fn io_error(&self) -> io::Error {
        io::Error::from_raw_os_error(self.errno)
    }
}

/// Outcome of [`read_exec_report`] other than success.
#[derive(Debug, thiserror::Error)]
pub enum ExecReportError {
    /// The child reported a failed setup step and exited with status 127.
    #[error(transparent)]
    Setup(#[from] ChildSetupError),
    /// The descriptor is non-blocking and nothing has happened yet (the
    /// child has neither exec'd nor failed). Poll it for readability.
    #[error("exec report not available yet")]
    WouldBlock,
    /// The report was malformed (short, or an unknown step code).
    #[error("malformed exec report ({0} bytes)")]
    Malformed(usize),
    /// Reading the pipe failed.
    #[error("cannot read the exec report: {0}")]
    Io(#[from] io::Error),
}

/// Read the exec report of a [`Spawned`] process.
///
/// `Ok(())`: end-of-file without data — the `execve` succeeded (or the child
/// died before reporting anything, e.g. killed by `SIGKILL`; check the wait
/// status). [`ExecReportError::Setup`]: the child reported which step failed.
/// On a blocking descriptor this waits for one of the two; on a non-blocking
/// one (set `O_NONBLOCK` with `fcntl`) it returns
/// [`ExecReportError::WouldBlock`] until the descriptor polls readable.
pub fn read_exec_report(fd: BorrowedFd<'_>) -> Result<(), ExecReportError> {
    let mut buf = [0u8; EXEC_REPORT_LEN];
    let mut got = 0;
    loop {
        match rustix::io::read(fd, &mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(()),
            Ok(0) => return Err(ExecReportError::Malformed(got)),
            Ok(n) => {
                got += n;
                if got == EXEC_REPORT_LEN {
                    let code = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
                    let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
                    let step = SetupStep::from_code(code).ok_or(ExecReportError::Malformed(got))?;
                    return Err(ChildSetupError { step, errno }.into());
                }
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) if got == 0 => return Err(ExecReportError::WouldBlock),
            Err(rustix::io::Errno::AGAIN) => return Err(ExecReportError::Malformed(got)),
            Err(e) => return Err(ExecReportError::Io(e.into())),
        }
    }
}

/// Look up a bare program `name` in a colon-separated search path, as
/// `execvp(3)` would, in the parent. Empty and relative entries are skipped
/// (unlike the POSIX shell, the current directory is never searched). Returns
/// the first regular file with an execute bit. A `name` containing `/` is
/// returned as is.
pub fn find_in_path(name: &OsStr, path_env: &OsStr) -> Option<PathBuf> {
    if name.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(name));
    }
    if name.is_empty() {
        return None;
    }
    path_env
        .as_bytes()
        .split(|b| *b == b':')
        .map(|dir| Path::new(OsStr::from_bytes(dir)))
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

fn path_from_env(env: &[CString]) -> &OsStr {
    env.iter()
        .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
        .map(OsStr::from_bytes)
        .unwrap_or(OsStr::new(DEFAULT_PATH))
}

/// Make sure `fd` is numbered 3 or higher, so that `dup2` onto 0–2 in the
/// child cannot clobber another source; the copy is close-on-exec.
fn above(fd: OwnedFd, floor: i32) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() >= floor {
        return Ok(fd);
    }
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, floor)?)
}

/// Start a process as described by `req`; see the [module docs](self).
///
/// The child, in this order: resets all signal dispositions to the default
/// and unblocks all signals; `setsid()`; `dup2`s stdin (`/dev/null` if none
/// was given), stdout and stderr (inherited when not given);
/// `setgroups`/`setgid`/`setuid` when given, in that order; `chdir` when
/// given; `execve` with exactly `req.env`. The request's descriptors are
/// closed in the parent when this returns.
pub fn spawn(req: SpawnRequest<'_>) -> Result<Spawned, SpawnError> {
    let SpawnRequest {
        program,
        mut argv,
        env,
        cwd,
        uid,
        gid,
        supplementary_groups,
        stdin,
        stdout,
        stderr,
        cgroup,
        env_own_pid,
        pass_fds,
    } = req;
    // Every descriptor the child starts from must sit above the range 3..3+n that the
    // passed descriptors are placed at.
    let floor = 3 + pass_fds.len() as i32;
    let above_stdio = |fd: OwnedFd| above(fd, floor);

    if argv.is_empty() {
        argv.push(program.clone());
    }
    let program = if program.as_bytes().contains(&b'/') {
        program
    } else {
        let found = find_in_path(OsStr::from_bytes(program.as_bytes()), path_from_env(&env))
            .ok_or_else(|| SpawnError::NotFound(program.clone()))?;
        CString::new(found.into_os_string().into_vec())
            .map_err(|_| SpawnError::NotFound(program.clone()))?
    };

    let stdin = match stdin {
        Some(fd) => fd,
        None => rustix::fs::open(
            c"/dev/null",
            OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| SpawnError::DevNull(e.into()))?,
    };
    let stdin = above_stdio(stdin).map_err(SpawnError::Descriptor)?;
    let stdout = stdout
        .map(above_stdio)
        .transpose()
        .map_err(SpawnError::Descriptor)?;
    let stderr = stderr
        .map(above_stdio)
        .transpose()
        .map_err(SpawnError::Descriptor)?;

    let (report_r, report_w) =
        rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(|e| SpawnError::Pipe(e.into()))?;
    let report_w = above_stdio(report_w).map_err(SpawnError::Pipe)?;

    let mut plan =
        ExecPlan::new(program, argv, env, report_w.as_fd()).map_err(SpawnError::Descriptor)?;
    plan.set_cwd(cwd);
    for name in env_own_pid {
        plan.set_env_own_pid(name).map_err(SpawnError::Descriptor)?;
    }
    // Copies of the passed descriptors above the target range (the originals stay the
    // caller's); closed again once the child has its own.
    let passed: Vec<OwnedFd> = pass_fds
        .iter()
        .map(|fd| rustix::io::fcntl_dupfd_cloexec(fd, floor).map_err(io::Error::from))
        .collect::<io::Result<_>>()
        .map_err(SpawnError::Descriptor)?;
    let groups = (uid.is_some() || gid.is_some() || !supplementary_groups.is_empty())
        .then_some(supplementary_groups.as_slice());
    plan.set_credentials(uid, gid, groups);
    plan.set_stdio(0, Some(stdin.as_fd()))
        .and_then(|()| plan.set_stdio(1, stdout.as_ref().map(|f| f.as_fd())))
        .and_then(|()| plan.set_stdio(2, stderr.as_ref().map(|f| f.as_fd())))
        .map_err(SpawnError::Descriptor)?;
    plan.set_pass_fds(passed.iter().map(|f| f.as_fd()).collect())
        .map_err(SpawnError::Descriptor)?;

    let (pid, pidfd) = sys::clone3_exec(&plan, cgroup).map_err(SpawnError::Clone)?;
    // The parent's copies (report write end, stdio) are closed here, so the
    // report pipe reaches EOF as soon as the child execs or exits.
    drop(plan);
    drop(passed);
    drop(report_w);
    drop((stdin, stdout, stderr));
    Ok(Spawned {
        pid,
        pidfd,
        exec_report: report_r,
    })
}

/// Convenience: a `CString` from a `&str` known to contain no NUL byte
/// (panics otherwise).
pub fn cstr(s: &str) -> CString {
    CString::new(s).expect("string contains a NUL byte")
}
