//! Pure parsing and fake-root tests (no privileges needed).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use herald_manager::cgroup::{
    escape_name, find_cgroup2_mount, own_cgroup, parse_cgroup2_mounts, unescape_mountinfo, Cgroup,
    CgroupError, Hierarchy,
};

const HYBRID: &str = "\
22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

const UNIFIED: &str = "\
24 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
28 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
29 22 0:27 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw
";

const NO_V2: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
";

#[test]
fn mountinfo_layouts() {
    let table: &[(&str, &str, Option<&str>)] = &[
        ("hybrid", HYBRID, Some("/sys/fs/cgroup/unified")),
        ("unified", UNIFIED, Some("/sys/fs/cgroup")),
        ("no v2", NO_V2, None),
        ("empty", "", None),
        // Several optional fields before the separator.
        (
            "optional fields",
            "50 1 0:40 / /cg rw shared:3 master:2 propagate_from:1 unbindable - cgroup2 none rw\n",
            Some("/cg"),
        ),
        // Octal escapes in the mount point.
        (
            "escapes",
            "50 1 0:40 / /mnt/my\\040cgroup\\011x\\134y rw - cgroup2 cgroup2 rw\n",
            Some("/mnt/my cgroup\tx\\y"),
        ),
        // A mount point literally named "-" must not be taken for the separator.
        (
            "dash mount point",
            "50 1 0:40 / - rw - cgroup2 cgroup2 rw\n",
            Some("-"),
        ),
        // cgroup2 as source or option, but not as type.
        (
            "not the type",
            "50 1 0:40 / /x rw - tmpfs cgroup2 rw\n",
            None,
        ),
        // Truncated / garbage lines are ignored.
        ("garbage", "hello world\n50 1 0:40 / /x rw\n", None),
    ];
    for (name, text, want) in table {
        assert_eq!(
            find_cgroup2_mount(text),
            want.map(PathBuf::from),
            "case {name}"
        );
    }
}

#[test]
fn mountinfo_prefers_whole_hierarchy() {
    let text = "\
60 1 0:40 /sub/tree /container/cg rw - cgroup2 cgroup2 rw
61 1 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
";
    let all = parse_cgroup2_mounts(text);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].root, Path::new("/sub/tree"));
    assert_eq!(
        find_cgroup2_mount(text),
        Some(PathBuf::from("/sys/fs/cgroup"))
    );
    // Only a partial mount: still found, and paths are translated.
    let only = "60 1 0:40 /sub/tree /container/cg rw - cgroup2 cgroup2 rw\n";
    assert_eq!(
        find_cgroup2_mount(only),
        Some(PathBuf::from("/container/cg"))
    );
    let h = Hierarchy::from_texts(only, "0::/sub/tree/svc\n").unwrap();
    let cg = h.own_cgroup().unwrap();
    assert_eq!(cg.path(), Path::new("/container/cg/svc"));
    assert!(matches!(
        Hierarchy::from_texts(only, "0::/elsewhere\n"),
        Err(CgroupError::NotVisible { .. })
    ));
}

#[test]
fn unescape_edge_cases() {
    let table: &[(&str, &[u8])] = &[
        ("plain", b"plain"),
        ("a\\040b", b"a b"),
        ("\\134", b"\\"),
        ("trail\\", b"trail\\"),
        ("short\\04", b"short\\04"),
        ("bad\\089", b"bad\\089"),
        ("\\377", b"\xff"),
        ("\\400", b"\\400"),
    ];
    for (input, want) in table {
        use std::os::unix::ffi::OsStringExt;
        assert_eq!(
            unescape_mountinfo(input),
            OsString::from_vec(want.to_vec()),
            "input {input:?}"
        );
    }
}

#[test]
fn own_cgroup_table() {
    let table: &[(&str, Option<&str>)] = &[
        ("0::/\n", Some("/")),
        (
            "0::/system.slice/herald.service\n",
            Some("/system.slice/herald.service"),
        ),
        (
            "9:name=systemd:/\n4:memory:/x/y\n1:cpu:/\n0::/user.slice/u.scope\n",
            Some("/user.slice/u.scope"),
        ),
        ("0::/with space\n", Some("/with space")),
        ("4:memory:/x\n1:cpu:/\n", None),
        ("", None),
        ("0::relative\n", None),
    ];
    for (text, want) in table {
        assert_eq!(own_cgroup(text), want.map(PathBuf::from), "text {text:?}");
    }
}

#[test]
fn hierarchy_from_texts() {
    let h = Hierarchy::from_texts(HYBRID, "4:memory:/a\n0::/\n").unwrap();
    let own = h.own_cgroup().unwrap();
    assert_eq!(own.path(), Path::new("/sys/fs/cgroup/unified"));
    assert_eq!(own.cgroup_path(), Path::new("/"));
    let h = Hierarchy::from_texts(UNIFIED, "0::/system.slice/h.service\n").unwrap();
    let own = h.own_cgroup().unwrap();
    assert_eq!(
        own.path(),
        Path::new("/sys/fs/cgroup/system.slice/h.service")
    );
    assert_eq!(own.rel(), Path::new("system.slice/h.service"));
    assert!(matches!(
        Hierarchy::from_texts(NO_V2, "0::/\n"),
        Err(CgroupError::NoCgroup2)
    ));
    assert!(matches!(
        Hierarchy::from_texts(UNIFIED, "1:cpu:/\n"),
        Err(CgroupError::NoOwnCgroup)
    ));
    assert!(Hierarchy::from_texts(NO_V2, "0::/\n")
        .unwrap_err()
        .is_not_delegated());
}

#[test]
fn escape_name_table() {
    let table: &[(&str, Option<&str>)] = &[
        ("foo.service", Some("foo.service")),
        ("getty@tty1.service", Some("getty@tty1.service")),
        ("memory.service", Some("_memory.service")),
        ("cgroup.procs", Some("_cgroup.procs")),
        ("cpu.max", Some("_cpu.max")),
        ("cpu", Some("cpu")),
        ("manager", Some("_manager")),
        ("manager.service", Some("manager.service")),
        ("_x.service", Some("__x.service")),
        (".hidden", Some("_.hidden")),
        ("", None),
        (".", None),
        ("..", None),
        ("a/b.service", None),
    ];
    for (name, want) in table {
        match (escape_name(name), want) {
            (Ok(got), Some(w)) => assert_eq!(&got, w, "name {name:?}"),
            (Err(CgroupError::InvalidName(_)), None) => {}
            (got, w) => panic!("name {name:?}: got {got:?}, want {w:?}"),
        }
    }
}

#[test]
fn cgroup_paths() {
    let cg = Cgroup::new("/mnt/cg", "/a/b");
    assert_eq!(cg, Cgroup::new("/mnt/cg", "a/b"));
    assert_eq!(cg.path(), Path::new("/mnt/cg/a/b"));
    assert_eq!(cg.cgroup_path(), Path::new("/a/b"));
    let child = cg.child("c.service").unwrap();
    assert_eq!(child.path(), Path::new("/mnt/cg/a/b/c.service"));
    assert_eq!(child.parent().unwrap(), cg);
    let root = Cgroup::new("/mnt/cg", "/");
    assert_eq!(root.path(), Path::new("/mnt/cg"));
    assert_eq!(root.cgroup_path(), Path::new("/"));
    assert!(root.parent().is_none());
    assert!(cg.child("x/y").is_err());
    assert!(cg.child("..").is_err());
}

/// The interface-file helpers, against a fake cgroup directory.
#[test]
fn fake_root_interface_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Cgroup::new(tmp.path(), "");
    let cg = root.child("svc.service").unwrap();
    assert!(!cg.exists());
    cg.create().unwrap();
    cg.create().unwrap(); // existing is fine
    assert!(cg.exists());
    let p = cg.path();

    std::fs::write(p.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    assert!(cg.is_populated().unwrap());
    std::fs::write(p.join("cgroup.events"), "frozen 0\npopulated 0\n").unwrap();
    assert!(!cg.is_populated().unwrap());
    cg.wait_unpopulated(std::time::Duration::from_secs(1))
        .unwrap();
    std::fs::write(p.join("cgroup.events"), "frozen 0\n").unwrap();
    let err = cg.is_populated().unwrap_err();
    assert!(matches!(err, CgroupError::Parse { .. }));
    assert_eq!(err.path(), Some(p.join("cgroup.events").as_path()));

    std::fs::write(p.join("cgroup.procs"), "12\n345\n").unwrap();
    assert_eq!(cg.pids().unwrap(), vec![12, 345]);
    std::fs::write(p.join("cgroup.procs"), "").unwrap();
    assert_eq!(cg.pids().unwrap(), Vec::<i32>::new());
    std::fs::write(p.join("cgroup.procs"), "12\nnope\n").unwrap();
    assert!(matches!(cg.pids(), Err(CgroupError::Parse { .. })));

    // No cgroup.kill: reported as unsupported, with the path.
    assert!(matches!(
        cg.kill(),
        Err(CgroupError::KillUnsupported { .. })
    ));
    std::fs::write(p.join("cgroup.kill"), "").unwrap();
    cg.kill().unwrap();
    assert_eq!(std::fs::read_to_string(p.join("cgroup.kill")).unwrap(), "1");

    // (A regular file is not truncated by the single write, so empty it.)
    std::fs::write(p.join("cgroup.procs"), "").unwrap();
    cg.attach(4242).unwrap();
    assert_eq!(
        std::fs::read_to_string(p.join("cgroup.procs")).unwrap(),
        "4242"
    );

    // Missing files carry their path.
    let missing = root.child("missing").unwrap();
    match missing.is_populated() {
        Err(CgroupError::Read { path, .. }) => {
            assert_eq!(path, missing.path().join("cgroup.events"))
        }
        other => panic!("unexpected {other:?}"),
    }
    match missing.attach_self() {
        Err(CgroupError::Open { path, .. }) => {
            assert_eq!(path, missing.path().join("cgroup.procs"))
        }
        other => panic!("unexpected {other:?}"),
    }

    // id() is the directory's inode number.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(cg.id().unwrap(), std::fs::metadata(&p).unwrap().ino());

    let sub = cg.child("inner").unwrap();
    sub.create().unwrap();
    assert_eq!(cg.children().unwrap(), vec![sub.clone()]);
    sub.remove().unwrap();
    sub.remove().unwrap(); // already gone is fine
    assert!(cg.children().unwrap().is_empty());
}

#[test]
fn pidfd_get_info_opcode() {
    // _IOWR(0xFF, 11, 72-byte struct) with the generic encoding.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "x86"))]
    assert_eq!(u64::from(herald_manager::sys::PIDFD_GET_INFO), 0xC048_FF0B);
    assert_eq!(herald_manager::sys::PIDFD_INFO_SIZE_VER1, 72);
}

#[test]
fn control_buffer_sizes() {
    use herald_manager::sys::ControlBuffer;
    // CMSG_SPACE(12) + CMSG_SPACE(4) + CMSG_SPACE(768 * 4) on 64-bit.
    #[cfg(target_pointer_width = "64")]
    assert_eq!(ControlBuffer::new().len(), 32 + 24 + 16 + 3072);
    assert!(ControlBuffer::with_fd_capacity(0).len() < ControlBuffer::new().len());
    assert!(!ControlBuffer::default().is_empty());
}
