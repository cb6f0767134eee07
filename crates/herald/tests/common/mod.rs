//! Test harness for `herald up`: writes unit files into a temporary directory, runs the
//! real binary with its own runtime directory, follows its output line by line
//! (waiting for lines is event-driven, through a channel), and talks to its control
//! socket. Dropping it stops herald and, should herald have died, removes whatever it
//! left in its cgroup.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_manager::api::{JobKind, Request, Response, UnitStatus};

pub fn herald_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_herald"))
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Skips (returns true) when not root, failing instead under CI.
pub fn skip_unless_root(what: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipped: {what} needs root");
    assert!(
        std::env::var_os("CI").is_none(),
        "CI runs as root: {what} must not skip"
    );
    true
}

pub struct Herald {
    pub child: Option<Child>,
    pub units: tempfile::TempDir,
    pub runtime: tempfile::TempDir,
    lines: Receiver<String>,
    pub seen: Arc<Mutex<Vec<String>>>,
    pub cgroup: Option<PathBuf>,
}

/// Where the cgroup2 hierarchy is mounted (from /proc/self/mountinfo).
pub fn cgroup2_mount() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    herald_manager::cgroup::find_cgroup2_mount(&text)
}

pub fn write_units(dir: &Path, units: &[(&str, &str)]) {
    for (name, text) in units {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        if name.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

impl Herald {
    /// Starts `herald up ARGS UNIT_DIR` with the given files in UNIT_DIR.
    pub fn start(files: &[(&str, &str)], args: &[&str]) -> Herald {
        Self::start_as(files, args, |c| c)
    }

    pub fn start_as(
        files: &[(&str, &str)],
        args: &[&str],
        adjust: impl FnOnce(&mut Command) -> &mut Command,
    ) -> Herald {
        Self::start_in(tempfile::tempdir().unwrap(), files, args, adjust)
    }

    /// A fresh runtime directory, to know the socket paths before herald starts.
    pub fn runtime_dir() -> tempfile::TempDir {
        let runtime = tempfile::tempdir().unwrap();
        // Reachable by services running as other users.
        std::fs::set_permissions(
            runtime.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        runtime
    }

    pub fn start_in(
        runtime: tempfile::TempDir,
        files: &[(&str, &str)],
        args: &[&str],
        adjust: impl FnOnce(&mut Command) -> &mut Command,
    ) -> Herald {
        let units = tempfile::tempdir().unwrap();
        write_units(units.path(), files);
        let mut cmd = Command::new(herald_bin());
        cmd.arg("up")
            .arg("--runtime-dir")
            .arg(runtime.path())
            .args(args)
            .arg(units.path());
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        adjust(&mut cmd);
        std::fs::set_permissions(
            runtime.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let mut child = cmd.spawn().unwrap();
        let (tx, lines) = mpsc::channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            let seen = seen.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if std::env::var_os("HERALD_TEST_VERBOSE").is_some() {
                        eprintln!("| {line}");
                    }
                    seen.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        let mut h = Herald {
            child: Some(child),
            units,
            runtime,
            lines,
            seen,
            cgroup: None,
        };
        // The first lines say where the units run, or that cgroups are off.
        if let Some(line) = h.wait_line(
            |l| {
                l.starts_with("herald: running units under cgroup")
                    || l.contains("without cgroups")
                    || l.contains("cgroups disabled")
            },
            Duration::from_secs(10),
        ) {
            if let Some(p) = line.strip_prefix("herald: running units under cgroup ") {
                h.cgroup = Some(PathBuf::from(p));
            }
        }
        h
    }

    /// Waits for an output line matching `pred` (lines already seen count too).
    pub fn wait_line(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        if let Some(l) = self.seen.lock().unwrap().iter().find(|l| pred(l)) {
            return Some(l.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    pub fn expect_line(&self, pred: impl Fn(&str) -> bool, what: &str) -> String {
        self.wait_line(pred, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("no line {what}; output:\n{}", self.output()))
    }

    pub fn output(&self) -> String {
        self.seen.lock().unwrap().join("\n")
    }

    /// Position of the first line matching `pred` in the output so far.
    pub fn position(&self, pred: impl Fn(&str) -> bool) -> Option<usize> {
        self.seen.lock().unwrap().iter().position(|l| pred(l))
    }

    pub fn control_socket(&self) -> PathBuf {
        self.runtime.path().join("control")
    }

    pub fn notify_socket(&self) -> PathBuf {
        self.runtime.path().join("notify")
    }

    pub fn request(&self, req: &Request) -> Response {
        let mut s = UnixStream::connect(self.control_socket()).unwrap();
        let mut line = serde_json::to_vec(req).unwrap();
        line.push(b'\n');
        s.write_all(&line).unwrap();
        let mut out = String::new();
        BufReader::new(s).read_line(&mut out).unwrap();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad response {out:?}: {e}"))
    }

    pub fn status(&self, unit: &str) -> UnitStatus {
        let r = self.request(&Request::Status {
            units: vec![unit.into()],
        });
        assert!(r.ok, "{r:?}");
        r.units.into_iter().next().unwrap()
    }

    pub fn job(&self, kind: JobKind, unit: &str) -> Response {
        self.request(&Request::Job {
            kind,
            units: vec![unit.into()],
            no_block: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM, then waits for herald to exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
            rustix::process::Signal::TERM,
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "herald did not exit within 60 s of SIGTERM; output:\n{}",
                    self.output()
                );
            }
            // Exit of a non-child-of-ours-process has no event we can wait on from
            // here without a pidfd; poll its status at a modest rate.
            let pidfd = rustix::process::pidfd_open(
                rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
                rustix::process::PidfdFlags::empty(),
            );
            if let Ok(fd) = pidfd {
                let mut p = [rustix::event::PollFd::new(
                    &fd,
                    rustix::event::PollFlags::IN,
                )];
                let _ = rustix::event::poll(
                    &mut p,
                    Some(&rustix::time::Timespec {
                        tv_sec: 1,
                        tv_nsec: 0,
                    }),
                );
            }
        }
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
                rustix::process::Signal::TERM,
            );
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Whatever herald could not clean up (it was killed, or a test failed).
        if let (Some(mount), Some(cg)) = (cgroup2_mount(), &self.cgroup) {
            let path = mount.join(cg.strip_prefix("/").unwrap_or(cg));
            if path.exists() {
                remove_cgroup_tree(&path);
            }
        }
    }
}

/// Kills everything in a cgroup subtree and removes it, deepest first.
pub fn remove_cgroup_tree(path: &Path) {
    let _ = std::fs::write(path.join("cgroup.kill"), "1");
    let mut dirs = vec![path.to_path_buf()];
    let mut i = 0;
    while i < dirs.len() {
        if let Ok(rd) = std::fs::read_dir(&dirs[i]) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    dirs.push(e.path());
                }
            }
        }
        i += 1;
    }
    for d in dirs.iter().rev() {
        for _ in 0..100 {
            if std::fs::remove_dir(d).is_ok() || !d.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Starts `n` busy loops (ended on drop): CPU load for race tests.
pub struct Burners(Vec<Child>);

impl Burners {
    pub fn start(n: usize) -> Burners {
        Burners(
            (0..n)
                .map(|_| {
                    Command::new("sh")
                        .arg("-c")
                        .arg("while :; do :; done")
                        .spawn()
                        .unwrap()
                })
                .collect(),
        )
    }
}

impl Drop for Burners {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
