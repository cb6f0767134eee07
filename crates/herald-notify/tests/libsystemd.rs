//! Interop with libsystemd.so.0, the independently written client on this machine:
//! what `sd_notify`, `sd_pid_notify_with_fds` and `sd_notify_barrier` put on the wire
//! parses to the same typed messages as herald's own, byte for byte.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Receiver;
use herald_proto::message::{self, Field, NotifyAccess};

const LIBSYSTEMD: &str = "/lib/x86_64-linux-gnu/libsystemd.so.0";

/// Messages in herald's typed form; the same strings go through libsystemd.
fn typed_messages() -> Vec<Vec<Field<'static>>> {
    vec![
        vec![Field::Ready],
        vec![Field::Ready, Field::Status("Serving 3 clients — ✓")],
        vec![Field::Reloading, Field::MonotonicUsec(123_456_789)],
        vec![Field::Stopping],
        vec![Field::Status("")],
        vec![
            Field::Errno(2),
            Field::BusError("org.freedesktop.DBus.Error.Failed"),
        ],
        vec![Field::MainPid(4711), Field::MainPidFdId(98765)],
        vec![Field::Watchdog],
        vec![Field::WatchdogTrigger],
        vec![Field::WatchdogUsec(36_000_000_000)],
        vec![Field::ExtendTimeoutUsec(5_000_000)],
        vec![Field::NotifyAccess(NotifyAccess::All), Field::RestartReset],
        vec![
            Field::ExitStatus(3),
            Field::VarlinkError("io.systemd.Failed"),
        ],
        vec![Field::Other {
            key: "X_APP_STATE",
            value: b"warm",
        }],
    ]
}

fn have_libsystemd() -> bool {
    let ok = std::path::Path::new(LIBSYSTEMD).exists();
    if !ok {
        eprintln!("skipped: {LIBSYSTEMD} is not installed");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs libsystemd0: this must not skip"
        );
    }
    ok
}

#[test]
fn libsystemd_datagrams_parse_to_the_same_typed_messages() {
    if !have_libsystemd() {
        return;
    }
    let rx = Receiver::path();
    let messages = typed_messages();
    let wire: Vec<String> = messages
        .iter()
        .map(|m| String::from_utf8(message::format(m).unwrap()).unwrap())
        .collect();
    let script = format!(
        r#"
import ctypes, os, sys, json
sd = ctypes.CDLL("{LIBSYSTEMD}")
for m in json.loads(sys.argv[1]):
    assert sd.sd_notify(0, m.encode()) > 0
r, w = os.pipe()
fds = (ctypes.c_int * 2)(r, w)
assert sd.sd_pid_notify_with_fds(0, 0, b"FDSTORE=1\nFDNAME=pipe", fds, 2) > 0
assert sd.sd_notify_barrier(0, ctypes.c_uint64(10_000_000)) > 0
print("done")
"#
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .arg(serde_like_json(&wire))
        .env("NOTIFY_SOCKET", &rx.address)
        .spawn()
        .unwrap();
    let pid = out.id() as i32;
    for (typed, text) in messages.iter().zip(&wire) {
        let got = rx.recv();
        assert_eq!(
            got.bytes,
            text.as_bytes(),
            "libsystemd sends the same bytes"
        );
        assert_eq!(got.pid, Some(pid));
        let payload = message::check_datagram(&got.bytes).unwrap();
        assert_eq!(&message::parse(payload).unwrap(), typed);
    }
    let fdstore = rx.recv();
    assert_eq!(
        message::parse(&fdstore.bytes).unwrap(),
        [Field::FdStore, Field::FdName("pipe")]
    );
    assert_eq!(fdstore.fds.len(), 2);
    let barrier = rx.recv();
    assert_eq!(message::parse(&barrier.bytes).unwrap(), [Field::Barrier]);
    assert_eq!(barrier.fds.len(), 1);
    drop(barrier);
    let status = out.wait_with_output().unwrap();
    assert!(status.status.success());
    let _ = Duration::ZERO;
}

#[test]
fn herald_and_libsystemd_send_the_same_barrier() {
    if !have_libsystemd() {
        return;
    }
    let rx = Receiver::path();
    let n = rx.notifier();
    let waiter = std::thread::spawn(move || n.barrier(Duration::from_secs(10)));
    let ours = rx.recv();
    drop(ours.fds);
    waiter.join().unwrap().unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!(r#"import ctypes; assert ctypes.CDLL("{LIBSYSTEMD}").sd_notify_barrier(0, ctypes.c_uint64(10_000_000)) > 0"#))
        .env("NOTIFY_SOCKET", &rx.address)
        .spawn()
        .unwrap();
    let theirs = rx.recv();
    assert_eq!(ours.bytes, theirs.bytes);
    assert_eq!(theirs.fds.len(), 1);
    drop(theirs);
    assert!(out.wait_with_output().unwrap().status.success());
}

/// A JSON array of strings, without a JSON dependency.
fn serde_like_json(items: &[String]) -> String {
    let mut s = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        for c in item.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s.push(']');
    s
}
