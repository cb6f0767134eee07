//! cgroup v2 support: finding the hierarchy, the manager's own subtree and
//! one child cgroup per service.
//!
//! Only the unified (v2) hierarchy is used. It is discovered from
//! `/proc/self/mountinfo` (it may be mounted at `/sys/fs/cgroup` on a unified
//! system or at `/sys/fs/cgroup/unified` on a hybrid one) and never assumed.
//!
//! Layout created by [`ManagerCgroups`]:
//!
//! ```text
//! <own cgroup>/<name>/             the manager's subtree
//! <own cgroup>/<name>/manager/     leaf holding the manager process itself
//! <own cgroup>/<name>/<unit>/      one leaf per service (ServiceCgroup)
//! ```
//!
//! The manager moves itself into the `manager` leaf so that the subtree root
//! holds no processes and may distribute controllers to its children (the
//! "no internal processes" rule). A [`Cgroup`] is a `(root, rel)` pair so that
//! tests can point it at a fake directory tree.

#![deny(missing_docs)]

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};

/// Errors from cgroup operations. File-system errors carry the path of the
/// file or directory involved.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// No `cgroup2` file system appears in `/proc/self/mountinfo`.
    #[error("no cgroup2 file system is mounted")]
    NoCgroup2,
    /// `/proc/self/cgroup` has no `0::` (cgroup v2) line.
    #[error("no cgroup v2 entry (\"0::\") in /proc/self/cgroup")]
    NoOwnCgroup,
    /// Our cgroup lies outside the part of the hierarchy that is mounted.
    #[error("own cgroup {cgroup} is not below the root {root} of the cgroup2 mount")]
    NotVisible {
        /// Our cgroup path (from `/proc/self/cgroup`).
        cgroup: PathBuf,
        /// The root of the mount (from `/proc/self/mountinfo`).
        root: PathBuf,
    },
    /// We may not create cgroups or move processes here: the hierarchy is not
    /// delegated to us or is read-only. The manager should fall back to
    /// tracking processes by ancestry.
    #[error("cgroup {path} is not delegated to us (not writable): {source}")]
    NotDelegated {
        /// The directory or file that could not be written.
        path: PathBuf,
        /// The underlying error (`EACCES`, `EPERM` or `EROFS`).
        source: io::Error,
    },
    /// Opening a file or directory failed.
    #[error("cannot open {path}: {source}")]
    Open {
        /// What was opened.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// What was read.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// What was written.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Creating a cgroup directory failed.
    #[error("cannot create cgroup {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Removing a cgroup directory failed.
    #[error("cannot remove cgroup {path}: {source}")]
    RemoveDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// `stat` of a cgroup directory failed.
    #[error("cannot stat {path}: {source}")]
    Stat {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The cgroup still contains processes (or child cgroups that do).
    #[error("cgroup {path} still contains processes")]
    Busy {
        /// The cgroup directory.
        path: PathBuf,
    },
    /// `cgroup.kill` does not exist (Linux before 5.14).
    #[error("{path}: cgroup.kill is not supported by this kernel")]
    KillUnsupported {
        /// The cgroup directory.
        path: PathBuf,
    },
    /// A cgroup interface file had unexpected content.
    #[error("unexpected content in {path}: {detail}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// The name cannot be used as a cgroup directory name.
    #[error("invalid cgroup name {0:?}")]
    InvalidName(String),
    /// Timed out waiting for a cgroup to become empty.
    #[error("timed out waiting for cgroup {path} to become empty")]
    Timeout {
        /// The cgroup directory.
        path: PathBuf,
    },
}

impl CgroupError {
    /// Whether this error means that cgroups are not usable here (no v2
    /// hierarchy, not delegated), so the manager should fall back to
    /// tracking service processes by ancestry.
    pub fn is_not_delegated(&self) -> bool {
        matches!(
            self,
            CgroupError::NotDelegated { .. }
                | CgroupError::NoCgroup2
                | CgroupError::NoOwnCgroup
                | CgroupError::NotVisible { .. }
        )
    }

    /// The file or directory the error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            CgroupError::NotDelegated { path, .. }
            | CgroupError::Open { path, .. }
            | CgroupError::Read { path, .. }
            | CgroupError::Write { path, .. }
            | CgroupError::CreateDir { path, .. }
            | CgroupError::RemoveDir { path, .. }
            | CgroupError::Stat { path, .. }
            | CgroupError::Busy { path }
            | CgroupError::KillUnsupported { path }
            | CgroupError::Parse { path, .. }
            | CgroupError::Timeout { path } => Some(path),
            _ => None,
        }
    }
}

fn is_permission(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS)
    )
}

// ---------------------------------------------------------------------------
// Discovery.
// ---------------------------------------------------------------------------

/// One `cgroup2` mount from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup2Mount {
    /// Where it is mounted (field 5).
    pub mount_point: PathBuf,
    /// Which cgroup of the hierarchy appears at the mount point (field 4),
    /// `/` for a mount of the whole hierarchy.
    pub root: PathBuf,
}

/// Undo the octal escapes (`\040` for space, `\011` tab, `\012` newline,
/// `\134` backslash, …) that the kernel applies to paths in
/// `/proc/self/mountinfo`. Malformed escapes are kept literally.
pub fn unescape_mountinfo(field: &str) -> OsString {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let digits = &b[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if v <= 0xff {
                    out.push(v as u8);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    OsString::from_vec(out)
}

/// All `cgroup2` mounts in a `/proc/self/mountinfo` text, in order.
///
/// Each line is `id parent major:minor root mount-point options
/// [optional-fields…] - fstype source super-options`; the variable number of
/// optional fields is skipped by looking for the lone `-` separator.
pub fn parse_cgroup2_mounts(mountinfo: &str) -> Vec<Cgroup2Mount> {
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').filter(|f| !f.is_empty()).collect();
        if fields.len() < 7 {
            continue;
        }
        let Some(sep) = fields.iter().skip(6).position(|f| *f == "-") else {
            continue;
        };
        let sep = sep + 6;
        if fields.get(sep + 1) != Some(&"cgroup2") {
            continue;
        }
        found.push(Cgroup2Mount {
            mount_point: PathBuf::from(unescape_mountinfo(fields[4])),
            root: PathBuf::from(unescape_mountinfo(fields[3])),
        });
    }
    found
}

/// The best `cgroup2` mount: the first one showing the whole hierarchy
/// (root `/`), else the first one at all.
pub fn best_cgroup2_mount(mountinfo: &str) -> Option<Cgroup2Mount> {
    let mounts = parse_cgroup2_mounts(mountinfo);
    let whole = mounts.iter().position(|m| m.root == Path::new("/"));
    let idx = whole.or(if mounts.is_empty() { None } else { Some(0) })?;
    mounts.into_iter().nth(idx)
}

/// Where the cgroup v2 hierarchy is mounted, from the text of
/// `/proc/self/mountinfo` (see [`best_cgroup2_mount`]). `None` if there is no
/// `cgroup2` mount (a pure v1 system).
pub fn find_cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    best_cgroup2_mount(mountinfo).map(|m| m.mount_point)
}

/// Our cgroup v2 path (e.g. `/system.slice/x.service`) from the text of
/// `/proc/self/cgroup`: the path of the `0::` line.
pub fn own_cgroup(proc_self_cgroup: &str) -> Option<PathBuf> {
    proc_self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| PathBuf::from(p.trim_end_matches('\n')))
        .filter(|p| p.is_absolute())
}

/// The cgroup v2 hierarchy as seen by this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// The mount the hierarchy is reached through.
    pub mount: Cgroup2Mount,
    /// Our own cgroup, e.g. `/` or `/system.slice/herald.service`.
    pub own: PathBuf,
}

impl Hierarchy {
    /// Read `/proc/self/mountinfo` and `/proc/self/cgroup`.
    pub fn discover() -> Result<Self, CgroupError> {
        let mi = read_file(Path::new("/proc/self/mountinfo"))?;
        let cg = read_file(Path::new("/proc/self/cgroup"))?;
        Self::from_texts(&mi, &cg)
    }

    /// Build from the texts of `/proc/self/mountinfo` and
    /// `/proc/self/cgroup` (pure; for tests).
    pub fn from_texts(mountinfo: &str, proc_self_cgroup: &str) -> Result<Self, CgroupError> {
        let mount = best_cgroup2_mount(mountinfo).ok_or(CgroupError::NoCgroup2)?;
        let own = own_cgroup(proc_self_cgroup).ok_or(CgroupError::NoOwnCgroup)?;
        let h = Hierarchy { mount, own };
        h.own_cgroup()?;
        Ok(h)
    }

    /// The [`Cgroup`] of a cgroup path as found in `/proc/PID/cgroup`,
    /// translated through the mount's root.
    pub fn cgroup_at(&self, cgroup_path: &Path) -> Result<Cgroup, CgroupError> {
        let rel =
            cgroup_path
                .strip_prefix(&self.mount.root)
                .map_err(|_| CgroupError::NotVisible {
                    cgroup: cgroup_path.to_path_buf(),
                    root: self.mount.root.clone(),
                })?;
        Ok(Cgroup::new(self.mount.mount_point.clone(), rel))
    }

    /// Our own cgroup.
    pub fn own_cgroup(&self) -> Result<Cgroup, CgroupError> {
        self.cgroup_at(&self.own)
    }
}

// ---------------------------------------------------------------------------
// A single cgroup directory.
// ---------------------------------------------------------------------------

/// A cgroup v2 directory: `root` (the mount point, or a fake directory in
/// tests) joined with `rel` (relative to the root).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cgroup {
    root: PathBuf,
    rel: PathBuf,
}

fn read_file(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Write `data` to an existing cgroup interface file with a single
/// `write(2)`. Permission errors become [`CgroupError::NotDelegated`].
fn write_file(path: &Path, data: &[u8]) -> Result<(), CgroupError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|source| {
            if is_permission(&source) {
                CgroupError::NotDelegated {
                    path: path.to_path_buf(),
                    source,
                }
            } else {
                CgroupError::Open {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
    f.write_all(data).map_err(|source| {
        if is_permission(&source) {
            CgroupError::NotDelegated {
                path: path.to_path_buf(),
                source,
            }
        } else {
            CgroupError::Write {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

fn parse_populated(path: &Path, text: &str) -> Result<bool, CgroupError> {
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("populated ") {
            return match v.trim() {
                "0" => Ok(false),
                "1" => Ok(true),
                other => Err(CgroupError::Parse {
                    path: path.to_path_buf(),
                    detail: format!("populated {other:?}"),
                }),
            };
        }
    }
    Err(CgroupError::Parse {
        path: path.to_path_buf(),
        detail: "no \"populated\" line".into(),
    })
}

impl Cgroup {
    /// The cgroup `rel` below `root`. A leading `/` of `rel` is ignored, so
    /// `Cgroup::new(mount, "/a/b")` and `Cgroup::new(mount, "a/b")` agree.
    pub fn new(root: impl Into<PathBuf>, rel: impl AsRef<Path>) -> Self {
        let rel: PathBuf = rel
            .as_ref()
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        Cgroup {
            root: root.into(),
            rel,
        }
    }

    /// The mount point (or fake root).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path relative to the root, without a leading `/`.
    pub fn rel(&self) -> &Path {
        &self.rel
    }

    /// The directory in the file system.
    pub fn path(&self) -> PathBuf {
        if self.rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(&self.rel)
        }
    }

    /// The path as `/proc/PID/cgroup` shows it (when the mount shows the
    /// whole hierarchy): `/` followed by [`rel`](Self::rel).
    pub fn cgroup_path(&self) -> PathBuf {
        Path::new("/").join(&self.rel)
    }

    /// A child cgroup named `name` (one path component, used verbatim; see
    /// [`escape_name`] for untrusted names).
    pub fn child(&self, name: &str) -> Result<Cgroup, CgroupError> {
        check_component(name)?;
        Ok(Cgroup {
            root: self.root.clone(),
            rel: self.rel.join(name),
        })
    }

    /// The parent cgroup, `None` for the root.
    pub fn parent(&self) -> Option<Cgroup> {
        if self.rel.as_os_str().is_empty() {
            return None;
        }
        Some(Cgroup {
            root: self.root.clone(),
            rel: self.rel.parent().unwrap_or(Path::new("")).to_path_buf(),
        })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// Whether the directory exists.
    pub fn exists(&self) -> bool {
        self.path().is_dir()
    }

    /// Create the cgroup (`mkdir(2)`); an existing one is fine. Permission
    /// errors become [`CgroupError::NotDelegated`].
    pub fn create(&self) -> Result<(), CgroupError> {
        let path = self.path();
        match fs::create_dir(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(source) if is_permission(&source) => {
                Err(CgroupError::NotDelegated { path, source })
            }
            Err(source) => Err(CgroupError::CreateDir { path, source }),
        }
    }

    /// Open the directory `O_RDONLY | O_DIRECTORY | O_CLOEXEC`, e.g. for
    /// `CLONE_INTO_CGROUP`.
    pub fn open(&self) -> Result<OwnedFd, CgroupError> {
        let path = self.path();
        rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| CgroupError::Open {
            path,
            source: e.into(),
        })
    }

    /// The cgroup id: the inode number of the directory, which on cgroup2
    /// (kernfs, 64-bit) is the kernel's cgroup id as reported by
    /// `PIDFD_GET_INFO`, `bpf_get_current_cgroup_id` or `name_to_handle_at`.
    pub fn id(&self) -> Result<u64, CgroupError> {
        let path = self.path();
        let st = rustix::fs::stat(&path).map_err(|e| CgroupError::Stat {
            path,
            source: e.into(),
        })?;
        #[allow(clippy::unnecessary_cast)]
        Ok(st.st_ino as u64)
    }

    /// Move process `pid` into this cgroup by writing it to `cgroup.procs`;
    /// `0` means the calling process (all its threads).
    pub fn attach(&self, pid: u32) -> Result<(), CgroupError> {
        write_file(&self.file("cgroup.procs"), pid.to_string().as_bytes())
    }

    /// Move the calling process into this cgroup (writes `0`).
    pub fn attach_self(&self) -> Result<(), CgroupError> {
        write_file(&self.file("cgroup.procs"), b"0")
    }

    /// Kill every process in this cgroup and its descendants with `SIGKILL`
    /// by writing `1` to `cgroup.kill` (Linux 5.14+). Returns at once; wait
    /// for [`is_populated`](Self::is_populated) to become false, or for the
    /// processes' pidfds to become readable.
    pub fn kill(&self) -> Result<(), CgroupError> {
        let path = self.file("cgroup.kill");
        if !path.exists() {
            return Err(CgroupError::KillUnsupported { path: self.path() });
        }
        write_file(&path, b"1")
    }

    /// Whether this cgroup or any descendant contains a live process
    /// (`populated` in `cgroup.events`). Zombies do not count.
    pub fn is_populated(&self) -> Result<bool, CgroupError> {
        let path = self.file("cgroup.events");
        let text = read_file(&path)?;
        parse_populated(&path, &text)
    }

    /// Wait until [`is_populated`](Self::is_populated) is false, sleeping in
    /// `poll(2)` on `cgroup.events` (the kernel signals `POLLPRI` when the
    /// file changes). Fails with [`CgroupError::Timeout`] after `timeout`.
    pub fn wait_unpopulated(&self, timeout: Duration) -> Result<(), CgroupError> {
        let path = self.file("cgroup.events");
        let mut f = fs::File::open(&path).map_err(|source| CgroupError::Open {
            path: path.clone(),
            source,
        })?;
        let deadline = Instant::now() + timeout;
        let mut text = String::new();
        loop {
            text.clear();
            f.seek(SeekFrom::Start(0))
                .and_then(|_| f.read_to_string(&mut text))
                .map_err(|source| CgroupError::Read {
                    path: path.clone(),
                    source,
                })?;
            if !parse_populated(&path, &text)? {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(CgroupError::Timeout { path: self.path() });
            }
            let left = deadline - now;
            let ts = rustix::time::Timespec {
                tv_sec: left.as_secs().try_into().unwrap_or(i64::MAX),
                tv_nsec: left.subsec_nanos().into(),
            };
            let mut pfd = [rustix::event::PollFd::new(
                &f,
                rustix::event::PollFlags::PRI | rustix::event::PollFlags::ERR,
            )];
            match rustix::event::poll(&mut pfd, Some(&ts)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    return Err(CgroupError::Read {
                        path,
                        source: e.into(),
                    })
                }
            }
        }
    }

    /// The processes in this cgroup (not its descendants), from
    /// `cgroup.procs`.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let path = self.file("cgroup.procs");
        let text = read_file(&path)?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                l.trim().parse::<i32>().map_err(|_| CgroupError::Parse {
                    path: path.clone(),
                    detail: format!("not a pid: {l:?}"),
                })
            })
            .collect()
    }

    /// The child cgroups (sub-directories).
    pub fn children(&self) -> Result<Vec<Cgroup>, CgroupError> {
        let path = self.path();
        let rd = fs::read_dir(&path).map_err(|source| CgroupError::Read {
            path: path.clone(),
            source,
        })?;
        let mut out = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|source| CgroupError::Read {
                path: path.clone(),
                source,
            })?;
            let is_dir = ent.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                out.push(Cgroup {
                    root: self.root.clone(),
                    rel: self.rel.join(ent.file_name()),
                });
            }
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    /// Remove this (empty) cgroup with `rmdir(2)`. A cgroup that no longer
    /// exists is fine. `EBUSY` is retried briefly, but only while the cgroup
    /// is *not* populated (the kernel may lag behind exiting processes);
    /// a populated cgroup yields [`CgroupError::Busy`].
    pub fn remove(&self) -> Result<(), CgroupError> {
        let path = self.path();
        let mut tries = 0;
        loop {
            match fs::remove_dir(&path) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    if self.is_populated().unwrap_or(true) || tries >= 50 {
                        return Err(CgroupError::Busy { path });
                    }
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(source) if is_permission(&source) => {
                    return Err(CgroupError::NotDelegated { path, source })
                }
                Err(source) => return Err(CgroupError::RemoveDir { path, source }),
            }
        }
    }

    /// Remove this cgroup and all descendants, deepest first. With `kill`,
    /// first kill everything in it via `cgroup.kill` and wait (up to
    /// `timeout`) for it to empty.
    pub fn remove_tree(&self, kill: bool, timeout: Duration) -> Result<(), CgroupError> {
        if !self.exists() {
            return Ok(());
        }
        if kill && self.is_populated()? {
            self.kill()?;
            self.wait_unpopulated(timeout)?;
        }
        for child in self.children()? {
            child.remove_tree(false, timeout)?;
        }
        self.remove()
    }
}

fn check_component(name: &str) -> Result<(), CgroupError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(CgroupError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// Controller and core prefixes whose `<prefix>.<x>` names are cgroup
/// interface files; a child directory must not shadow them.
const RESERVED_PREFIXES: &[&str] = &[
    "cgroup",
    "cpu",
    "cpuacct",
    "cpuset",
    "io",
    "blkio",
    "memory",
    "pids",
    "rdma",
    "hugetlb",
    "misc",
    "dmem",
    "freezer",
    "devices",
    "net_cls",
    "net_prio",
    "perf_event",
];

/// Turn a unit name into a safe cgroup directory name.
///
/// Rejects empty names, `.`/`..` and names containing `/` or NUL. Prefixes
/// `_` when the name starts with `_` or `.`, or when its part before the
/// first `.` is a controller or core prefix (`memory.x` would look like an
/// interface file), or when it is `manager` (the manager's own leaf).
/// Escaping is unambiguous: escaped names start with `_`.
pub fn escape_name(name: &str) -> Result<String, CgroupError> {
    check_component(name)?;
    let head = name.split('.').next().unwrap_or("");
    let reserved = name.starts_with('_')
        || name.starts_with('.')
        || name == ManagerCgroups::MANAGER_LEAF
        || (name.contains('.') && RESERVED_PREFIXES.contains(&head));
    Ok(if reserved {
        format!("_{name}")
    } else {
        name.to_string()
    })
}

// ---------------------------------------------------------------------------
// The manager's subtree and the services' cgroups.
// ---------------------------------------------------------------------------

/// A service's cgroup, held open for `CLONE_INTO_CGROUP`.
#[derive(Debug)]
pub struct ServiceCgroup {
    cgroup: Cgroup,
    dir: OwnedFd,
    id: u64,
}

impl ServiceCgroup {
    /// Create (if needed) and open `cgroup`.
    pub fn open(cgroup: Cgroup) -> Result<Self, CgroupError> {
        cgroup.create()?;
        let dir = cgroup.open()?;
        let st = rustix::fs::fstat(&dir).map_err(|e| CgroupError::Stat {
            path: cgroup.path(),
            source: e.into(),
        })?;
        #[allow(clippy::unnecessary_cast)]
        let id = st.st_ino as u64;
        Ok(ServiceCgroup { cgroup, dir, id })
    }

    /// The cgroup.
    pub fn cgroup(&self) -> &Cgroup {
        &self.cgroup
    }

    /// The open directory (`O_RDONLY | O_DIRECTORY | O_CLOEXEC`), to pass as
    /// `SpawnRequest::cgroup`.
    pub fn dir_fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// The cgroup id (inode number of the directory).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Close the directory and remove the (empty) cgroup, see
    /// [`Cgroup::remove`].
    pub fn remove(self) -> Result<(), CgroupError> {
        drop(self.dir);
        self.cgroup.remove()
    }
}

impl std::ops::Deref for ServiceCgroup {
    type Target = Cgroup;
    fn deref(&self) -> &Cgroup {
        &self.cgroup
    }
}

/// The manager's own cgroup subtree.
///
/// Dropping it without [`teardown`](Self::teardown) or [`keep`](Self::keep)
/// tears it down with `kill = true`: every process still in a service cgroup
/// of the subtree is killed (these are only processes the manager started and
/// their descendants).
#[derive(Debug)]
pub struct ManagerCgroups {
    original: Cgroup,
    subtree: Cgroup,
    manager: Cgroup,
    armed: bool,
}

impl ManagerCgroups {
    /// Name of the leaf the manager process moves into.
    pub const MANAGER_LEAF: &'static str = "manager";

    /// How long teardown waits for killed services to go away.
    pub const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(10);

    /// Create `<own>/<name>` and `<own>/<name>/manager` and move the calling
    /// process into the latter. `own` must be the cgroup this process is in
    /// now; it is where [`teardown`](Self::teardown) moves us back to.
    ///
    /// Fails with [`CgroupError::NotDelegated`] when we may not create
    /// cgroups or move ourselves; anything created is removed again.
    pub fn create(own: &Cgroup, name: &str) -> Result<Self, CgroupError> {
        let subtree = own.child(name)?;
        let existed = subtree.exists();
        subtree.create()?;
        let manager = subtree.child(Self::MANAGER_LEAF)?;
        let res = manager.create().and_then(|()| manager.attach_self());
        if let Err(e) = res {
            let _ = manager.remove();
            if !existed {
                let _ = subtree.remove();
            }
            return Err(e);
        }
        Ok(ManagerCgroups {
            original: own.clone(),
            subtree,
            manager,
            armed: true,
        })
    }

    /// [`create`](Self::create) with a unique name
    /// `herald-<pid>-<nanoseconds>`.
    pub fn create_unique(own: &Cgroup) -> Result<Self, CgroupError> {
        Self::create(own, &unique_name("herald"))
    }

    /// The cgroup we came from.
    pub fn original(&self) -> &Cgroup {
        &self.original
    }

    /// The subtree root `<own>/<name>`.
    pub fn subtree(&self) -> &Cgroup {
        &self.subtree
    }

    /// The leaf holding the manager process.
    pub fn manager(&self) -> &Cgroup {
        &self.manager
    }

    /// Create (or reuse) and open the cgroup for unit `unit_name`, escaped
    /// with [`escape_name`].
    pub fn service(&self, unit_name: &str) -> Result<ServiceCgroup, CgroupError> {
        let name = escape_name(unit_name)?;
        ServiceCgroup::open(self.subtree.child(&name)?)
    }

    /// Move the calling process back to its original cgroup and remove the
    /// subtree. Service cgroups that still hold processes are killed first
    /// when `kill` is true; otherwise they make this fail with
    /// [`CgroupError::Busy`] (after we have moved back).
    pub fn teardown(mut self, kill: bool) -> Result<(), CgroupError> {
        self.armed = false;
        self.do_teardown(kill)
    }

    /// Leave the subtree in place (e.g. across a re-exec of the manager).
    pub fn keep(mut self) {
        self.armed = false;
    }

    fn do_teardown(&self, kill: bool) -> Result<(), CgroupError> {
        self.original.attach_self()?;
        self.subtree.remove_tree(kill, Self::TEARDOWN_TIMEOUT)
    }
}

impl Drop for ManagerCgroups {
    fn drop(&mut self) {
        if self.armed {
            self.armed = false;
            let _ = self.do_teardown(true);
        }
    }
}

/// `<prefix>-<pid>-<nanoseconds since the epoch>-<counter>`: unique across
/// processes and across calls within this process.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{nanos}-{n}", std::process::id())
}
