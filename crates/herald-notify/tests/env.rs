//! The functions that read the environment. One test function, so nothing else in this
//! process reads or writes the environment concurrently.

mod common;

use std::os::fd::AsRawFd;
use std::time::Duration;

use common::Receiver;
use herald_notify::{Delivery, Error, Field};

#[test]
fn environment_functions() {
    let pid = std::process::id().to_string();
    // Socket activation: two pipes at the first fds after stdio.
    let (r, w) = rustix::pipe::pipe().unwrap();
    let (first, second) = (r.as_raw_fd(), w.as_raw_fd());
    assert_eq!(
        (first, second),
        (3, 4),
        "a fresh test process has fds 3 and 4 free"
    );
    std::env::set_var("LISTEN_PID", &pid);
    std::env::set_var("LISTEN_FDS", "2");
    std::env::set_var("LISTEN_FDNAMES", "in:out");
    let fds = herald_notify::listen_fds(true).unwrap();
    assert_eq!(
        fds.iter()
            .map(|f| (f.fd, f.name.as_str()))
            .collect::<Vec<_>>(),
        vec![(3, "in"), (4, "out")]
    );
    for fd in [&r, &w] {
        assert!(rustix::io::fcntl_getfd(fd)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC));
    }
    for v in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        assert!(std::env::var_os(v).is_none(), "{v} unset");
    }
    std::env::set_var("LISTEN_PID", "1");
    std::env::set_var("LISTEN_FDS", "2");
    assert!(
        herald_notify::listen_fds(false).unwrap().is_empty(),
        "meant for another process"
    );
    std::env::set_var("LISTEN_PID", &pid);
    std::env::remove_var("LISTEN_FDNAMES");
    let unnamed = herald_notify::listen_fds(false).unwrap();
    assert!(unnamed.iter().all(|f| f.name == "unknown") && unnamed.len() == 2);
    std::env::set_var("LISTEN_FDNAMES", "one");
    assert!(matches!(
        herald_notify::listen_fds(false),
        Err(Error::Env(_))
    ));

    // Unset NOTIFY_SOCKET: not supervised, a successful no-op.
    std::env::remove_var("NOTIFY_SOCKET");
    assert_eq!(
        herald_notify::notify(false, &[Field::Ready]).unwrap(),
        Delivery::NotSupervised
    );
    assert_eq!(
        herald_notify::barrier(false, Duration::from_secs(1)).unwrap(),
        Delivery::NotSupervised
    );

    // Set: sent; with unset_env the variable is gone afterwards.
    let rx = Receiver::path();
    std::env::set_var("NOTIFY_SOCKET", &rx.address);
    assert_eq!(
        herald_notify::notify(false, &[Field::Ready]).unwrap(),
        Delivery::Sent
    );
    assert_eq!(rx.recv().bytes, b"READY=1");
    assert_eq!(
        herald_notify::notify_raw(true, b"STATUS=bye").unwrap(),
        Delivery::Sent
    );
    assert_eq!(rx.recv().bytes, b"STATUS=bye");
    assert!(std::env::var_os("NOTIFY_SOCKET").is_none());
    assert_eq!(
        herald_notify::notify(true, &[Field::Ready]).unwrap(),
        Delivery::NotSupervised
    );

    // A malformed address is an error that names it, and nothing is sent.
    std::env::set_var("NOTIFY_SOCKET", "relative/path");
    let err = herald_notify::notify(false, &[Field::Ready]).unwrap_err();
    assert!(matches!(err, Error::Address(_)));
    assert!(err.to_string().contains("relative/path"), "{err}");

    // Watchdog.
    std::env::remove_var("WATCHDOG_USEC");
    std::env::remove_var("WATCHDOG_PID");
    assert_eq!(herald_notify::watchdog_enabled(false).unwrap(), None);
    std::env::set_var("WATCHDOG_USEC", "5000000000");
    assert_eq!(
        herald_notify::watchdog_enabled(false).unwrap(),
        Some(Duration::from_secs(5000))
    );
    std::env::set_var("WATCHDOG_PID", "1");
    assert_eq!(
        herald_notify::watchdog_enabled(false).unwrap(),
        None,
        "meant for another process"
    );
    std::env::set_var("WATCHDOG_PID", &pid);
    assert_eq!(
        herald_notify::watchdog_enabled(true).unwrap(),
        Some(Duration::from_secs(5000))
    );
    assert!(
        std::env::var_os("WATCHDOG_USEC").is_none() && std::env::var_os("WATCHDOG_PID").is_none()
    );
    std::env::set_var("WATCHDOG_USEC", "soon");
    assert!(matches!(
        herald_notify::watchdog_enabled(true),
        Err(Error::Env(_))
    ));
}
