//! `herald notify` against the real systemd-notify 252 and libsystemd on this machine:
//! the same datagrams on the wire (bytes, order, fd counts; credentials aside), the same
//! exit codes, and errors that send nothing.

use std::ffi::OsStr;
use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SocketAddrUnix,
    SocketFlags, SocketType,
};

const SYSTEMD_NOTIFY: &str = "/usr/bin/systemd-notify";

fn herald() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_herald"))
}

/// One datagram as seen by the receiver.
#[derive(Debug, PartialEq, Eq)]
struct Datagram {
    bytes: Vec<u8>,
    fds: usize,
    pid: i32,
    uid: u32,
}

/// A receiver socket that answers barriers (closes their fd) on a background thread
/// and records every datagram.
struct Receiver {
    dir: tempfile::TempDir,
    log: std::sync::mpsc::Receiver<Datagram>,
}

impl Receiver {
    fn start() -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let sock = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        rustix::net::sockopt::set_socket_passcred(&sock, true).unwrap();
        rustix::net::bind(
            &sock,
            &SocketAddrUnix::new(dir.path().join("notify")).unwrap(),
        )
        .unwrap();
        let (tx, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || loop {
            let mut buf = vec![0u8; 8192];
            let mut space = vec![
                MaybeUninit::<u8>::uninit();
                rustix::cmsg_space!(ScmRights(300), ScmCredentials(1))
            ];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let Ok(msg) = rustix::net::recvmsg(
                &sock,
                &mut [IoSliceMut::new(&mut buf)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            ) else {
                return;
            };
            let mut d = Datagram {
                bytes: buf[..msg.bytes].to_vec(),
                fds: 0,
                pid: 0,
                uid: 0,
            };
            let mut fds: Vec<OwnedFd> = Vec::new();
            for m in control.drain() {
                match m {
                    RecvAncillaryMessage::ScmCredentials(c) => {
                        d.pid = c.pid.as_raw_nonzero().get();
                        d.uid = c.uid.as_raw();
                    }
                    RecvAncillaryMessage::ScmRights(r) => fds.extend(r),
                    _ => {}
                }
            }
            d.fds = fds.len();
            drop(fds); // closing a barrier's fd releases its sender
            if tx.send(d).is_err() {
                return;
            }
        });
        Receiver { dir, log }
    }

    fn address(&self) -> PathBuf {
        self.dir.path().join("notify")
    }

    /// Everything received so far (the commands have exited, and their barriers were
    /// answered, so their datagrams are already here).
    fn take(&self) -> Vec<Datagram> {
        let mut out = Vec::new();
        while let Ok(d) = self
            .log
            .recv_timeout(Duration::from_millis(if out.is_empty() {
                2000
            } else {
                200
            }))
        {
            out.push(d);
        }
        out
    }
}

fn run(program: &Path, prefix: &[&str], args: &[&str], socket: Option<&Path>) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(prefix).args(args).stdin(Stdio::null());
    match socket {
        Some(s) => cmd.env("NOTIFY_SOCKET", s),
        None => cmd.env_remove("NOTIFY_SOCKET"),
    };
    cmd.output().unwrap()
}

fn herald_notify(args: &[&str], socket: Option<&Path>) -> Output {
    run(&herald(), &["notify"], args, socket)
}

fn systemd_notify(args: &[&str], socket: Option<&Path>) -> Output {
    run(Path::new(SYSTEMD_NOTIFY), &[], args, socket)
}

fn have_systemd_notify() -> bool {
    let ok = Path::new(SYSTEMD_NOTIFY).exists();
    if !ok {
        eprintln!("skipped: {SYSTEMD_NOTIFY} is not installed");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs systemd: this must not skip"
        );
    }
    ok
}

/// Every option combination systemd-notify 252 supports.
const CASES_252: &[&[&str]] = &[
    &["--ready"],
    &["--ready", "--no-block"],
    &["--status=Serving requests"],
    &["--status="],
    &["--ready", "--status=up"],
    &["--status=up", "--ready"],
    &["--ready", "READY=1"],
    &["--status=a", "STATUS=b"],
    &["STATUS=b", "--status=a"],
    &["A=1", "B=2", "A=3"],
    &["--ready", "--status=x", "X_CUSTOM=1", "STATUS=y", "READY=1"],
    &["MAINPID=4711", "--ready"],
    &["--pid=1"],
    &["--pid=4711", "--ready", "--status=s"],
    &["--pid", "--ready"],
    &["WATCHDOG=1"],
    &["WATCHDOG=trigger", "--no-block"],
    &["EXTEND_TIMEOUT_USEC=5000000"],
    &["NOVALUE"],
    &["--ready", "READ"],
    &["FOOBAR=1", "FOO"],
    &["X=1", "--ready", "Y=2", "--status=s", "--pid=4242"],
    &["--pid=0x10"],
    &["--pid= 017"],
    &["--uid=nobody", "--ready"],
    &["--uid=0", "--ready"],
    &["--uid=12345", "--ready", "--no-block"],
    &["--rea"],
    &["--no-bl", "--ready"],
    &["--", "READY=1"],
    &["--ready", "--", "--status=literal"],
];

#[test]
fn datagrams_are_byte_identical_to_systemd_notify_252() {
    if !have_systemd_notify() {
        return;
    }
    let rx = Receiver::start();
    let socket = rx.address();
    for args in CASES_252 {
        let theirs = systemd_notify(args, Some(&socket));
        let their_msgs = rx.take();
        let ours = herald_notify(args, Some(&socket));
        let our_msgs = rx.take();
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "exit code for {args:?}"
        );
        assert!(
            !their_msgs.is_empty(),
            "systemd-notify sent something for {args:?}"
        );
        let strip = |v: &[Datagram]| {
            v.iter()
                .map(|d| (d.bytes.clone(), d.fds, d.uid))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            strip(&our_msgs),
            strip(&their_msgs),
            "datagrams for {args:?}:\n ours   {:?}\n theirs {:?}",
            our_msgs
                .iter()
                .map(|d| String::from_utf8_lossy(&d.bytes).into_owned())
                .collect::<Vec<_>>(),
            their_msgs
                .iter()
                .map(|d| String::from_utf8_lossy(&d.bytes).into_owned())
                .collect::<Vec<_>>(),
        );
    }
}

#[test]
fn messages_are_sent_as_the_parent_by_default() {
    let rx = Receiver::start();
    // `sh -c 'herald notify --ready; true'`: the parent is the shell, which outlives us.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{} notify --ready; echo $$", herald().display()))
        .env("NOTIFY_SOCKET", rx.address())
        .output()
        .unwrap();
    assert!(status.status.success());
    let shell_pid: i32 = String::from_utf8_lossy(&status.stdout)
        .trim()
        .parse()
        .unwrap();
    let msgs = rx.take();
    assert_eq!(msgs[0].bytes, b"READY=1");
    assert_eq!(msgs[0].pid, shell_pid);
    assert_eq!(msgs[1].bytes, b"BARRIER=1");
    assert_eq!(msgs[1].fds, 1);
}

#[test]
fn v257_options_produce_the_documented_message() {
    let rx = Receiver::start();
    let socket = rx.address();
    let out = herald_notify(&["--reloading", "--status=reload"], Some(&socket));
    assert!(out.status.success(), "{out:?}");
    let msgs = rx.take();
    let text = String::from_utf8(msgs[0].bytes.clone()).unwrap();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines[0], "RELOADING=1");
    let usec: u64 = lines[1]
        .strip_prefix("MONOTONIC_USEC=")
        .unwrap()
        .parse()
        .unwrap();
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    assert!(usec <= now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1000 && usec > 0);
    assert_eq!(&lines[2..], ["STATUS=reload"]);

    herald_notify(&["--stopping", "--ready"], Some(&socket));
    assert_eq!(
        rx.take()[0].bytes,
        b"READY=1\nSTOPPING=1",
        "systemd-notify's order: READY before STOPPING"
    );

    herald_notify(&["--pid=self", "--no-block"], Some(&socket));
    let msgs = rx.take();
    assert_eq!(msgs.len(), 1, "no barrier with --no-block");
    assert_eq!(
        msgs[0].bytes,
        format!("MAINPID={}", msgs[0].pid).as_bytes(),
        "self: the sender's own pid"
    );

    // --fd passes fds with FDSTORE=1 and FDNAME=.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 7</dev/null 8</dev/null; {} notify --fd=7 --fd=8 --fdname=store --no-block",
            herald().display()
        ))
        .env("NOTIFY_SOCKET", &socket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let msgs = rx.take();
    assert_eq!(msgs[0].bytes, b"FDSTORE=1\nFDNAME=store");
    assert_eq!(msgs[0].fds, 2);

    // --exec runs the command after the notification and the barrier.
    // As with systemd-notify, options after ';' are still parsed unless '--' ends them.
    let out = herald_notify(
        &["--ready", "--exec", ";", "sh", "-c", "true"],
        Some(&socket),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid option -- 'c'"));
    let out = herald_notify(
        &["--ready", "--exec", "--", ";", "sh", "-c", "echo ran as $0"],
        Some(&socket),
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran as sh\n");
    let msgs = rx.take();
    assert_eq!(
        msgs.iter().map(|d| d.bytes.as_slice()).collect::<Vec<_>>(),
        [&b"READY=1"[..], b"BARRIER=1"]
    );
}

/// (arguments, expected stderr line from herald as systemd-notify, exit code)
const ERROR_CASES: &[(&[&str], &str)] = &[
    (&["--bogus"], "unrecognized option '--bogus'"),
    (&["--re"], "option '--re' is ambiguous; possibilities: '--ready' '--reloading'"),
    (&["--status"], "option '--status' requires an argument"),
    (&["--ready=1"], "option '--ready' doesn't allow an argument"),
    (&["-x"], "invalid option -- 'x'"),
    (&["--pid=abc"], "Failed to refer to --pid='abc': Invalid argument"),
    (&["--pid=0"], "Failed to refer to --pid='0': Numerical result out of range"),
    (&["--uid=no-such-user-here", "--ready"], "Can't resolve user no-such-user-here: Invalid argument"),
    (&["--fd=x", "--ready"], "Failed to parse file descriptor: x"),
    (&["--fd=99", "--ready"], "Specified file descriptor '99' not passed or specified more than once: Bad file descriptor"),
    (&["--fdname=a:b", "--ready"], "File descriptor name invalid: a:b"),
    (&["--fdname=ok", "--ready"], "No file descriptors passed, but --fdname= set, refusing."),
    (&["--exec", "--ready"], "If --exec is used argument list must contain ';' separator, refusing."),
    (&["--exec", "--ready", ";"], "Empty command line specified after ';' separator, refusing."),
    (&["--exec", ";", "true"], "No notify message specified while --exec, refusing."),
];

#[test]
fn errors_exit_1_with_systemd_notifys_message_and_send_nothing() {
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("systemd-notify");
    std::os::unix::fs::symlink(herald(), &link).unwrap();
    for (args, want) in ERROR_CASES {
        let out = run(&link, &[], args, Some(&rx.address()));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(want),
            "{args:?}: stderr {stderr:?} lacks {want:?}"
        );
    }
    assert!(
        rx.log.recv_timeout(Duration::from_millis(200)).is_err(),
        "nothing was sent"
    );
}

#[test]
fn errors_match_systemd_notify_252_where_it_has_the_option() {
    if !have_systemd_notify() {
        return;
    }
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("systemd-notify");
    std::os::unix::fs::symlink(herald(), &link).unwrap();
    // Options 252 knows, so both must fail the same way.
    for args in [
        &["--bogus"][..],
        &["--status"],
        &["--ready=1"],
        &["-x"],
        &[],
    ] {
        let ours = run(&link, &[], args, Some(&rx.address()));
        let theirs = systemd_notify(args, Some(&rx.address()));
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        let norm = |o: &Output, prog: &Path| {
            String::from_utf8_lossy(&o.stderr).replace(&*prog.to_string_lossy(), "PROG")
        };
        assert_eq!(
            norm(&ours, &link),
            norm(&theirs, Path::new(SYSTEMD_NOTIFY)),
            "{args:?}"
        );
    }
    // Unset NOTIFY_SOCKET: same message, exit 1, for both.
    let ours = run(&link, &[], &["--ready"], None);
    let theirs = systemd_notify(&["--ready"], None);
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(theirs.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&ours.stderr),
        String::from_utf8_lossy(&theirs.stderr)
    );
    // --booted: this machine was not booted with systemd.
    let booted = Path::new("/run/systemd/system").is_dir();
    for out in [
        run(&link, &[], &["--booted"], None),
        systemd_notify(&["--booted"], None),
    ] {
        assert_eq!(out.status.code(), Some(if booted { 0 } else { 1 }));
    }
}

#[test]
fn barrier_times_out_after_five_seconds_when_never_answered() {
    // A receiver that never reads: the barrier fd is never closed.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deaf");
    let sock = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    rustix::net::bind(&sock, &SocketAddrUnix::new(&path).unwrap()).unwrap();
    let start = std::time::Instant::now();
    let out = herald_notify(&["--ready"], Some(&path));
    assert_eq!(out.status.code(), Some(1));
    assert!(start.elapsed() >= Duration::from_secs(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("Failed to invoke barrier: Connection timed out"),
        "{stderr}"
    );
}

#[test]
fn bad_notify_socket_is_named() {
    for (value, want) in [
        ("relative/sock", "neither an absolute path"),
        ("vsock::5", "VMADDR_CID_ANY"),
        (&*format!("/{}", "x".repeat(200)), "at most 107 fit"),
    ] {
        let out = Command::new(herald())
            .args(["notify", "--ready"])
            .env("NOTIFY_SOCKET", value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("Failed to notify init system: Invalid argument"),
            "{stderr}"
        );
        assert!(stderr.contains(want), "{value}: {stderr}");
    }
    let _ = OsStr::new("");
}
