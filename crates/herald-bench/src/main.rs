//! herald's benchmarks: each runs herald next to its peer in the same run, on the same
//! receiver, alternating, and prints medians and the ratio. See BENCHMARKS.md.
//!
//! ```text
//! herald-bench notify-time [N]   herald notify --ready vs systemd-notify --ready (wall time)
//! herald-bench client [N]        library notify() and barrier() vs the bare syscall floor
//!                                and libsystemd's sd_notify_barrier
//! herald-bench flood [N]         messages/s and CPU per message of `herald up` (and of
//!                                systemd 252 through ../shared/peer-systemd)
//! herald-bench barrier [N]       sd_notify_barrier round trip through `herald up` (and systemd)
//! herald-bench rss [K...]        manager RSS with K idle Type=notify units (and systemd)
//! ```
//! Pin with `taskset -c 0` to take the cross-CPU wake-up out of the figures.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_notify::{Field, Notifier, NotifyAddress};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};

/// An unbound AF_UNIX datagram socket, close-on-exec.
fn dgram_socket() -> OwnedFd {
    rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap()
}

/// A receiver like a manager's, minus the manager: it reads every datagram with
/// SO_PASSCRED and closes every fd at once (which answers barriers).
struct Receiver {
    dir: PathBuf,
    count: Arc<AtomicU64>,
}

impl Receiver {
    fn start() -> Receiver {
        let dir = std::env::temp_dir().join(format!("herald-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dgram_socket();
        rustix::net::sockopt::set_socket_passcred(&sock, true).unwrap();
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size_force(&sock, 8 << 20);
        rustix::net::bind(&sock, &SocketAddrUnix::new(dir.join("notify")).unwrap()).unwrap();
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4097];
            let mut space = vec![
                MaybeUninit::<u8>::uninit();
                rustix::cmsg_space!(ScmRights(768), ScmCredentials(1))
            ];
            loop {
                let mut control = RecvAncillaryBuffer::new(&mut space);
                if rustix::net::recvmsg(
                    &sock,
                    &mut [IoSliceMut::new(&mut buf)],
                    &mut control,
                    RecvFlags::CMSG_CLOEXEC,
                )
                .is_err()
                {
                    continue;
                }
                // Dropping the drained messages closes received fds.
                control.drain().for_each(drop);
                c.fetch_add(1, Ordering::Relaxed);
            }
        });
        Receiver { dir, count }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("notify")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Stats {
    p50: f64,
    p99: f64,
    mean: f64,
}

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    Stats {
        p50: percentile(&v, 0.5),
        p99: percentile(&v, 0.99),
        mean,
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The CPUs this process may run on (`taskset -c 0` pins it and its children).
pub(crate) fn cpus_allowed() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Cpus_allowed_list"))
                .map(|l| l.split_whitespace().last().unwrap_or("").to_owned())
        })
        .unwrap_or_default()
}

pub(crate) fn herald_bin() -> PathBuf {
    let me = std::env::current_exe().unwrap();
    me.with_file_name("herald")
}

/// Wall time of `herald notify --ready` vs `systemd-notify --ready` (both with the
/// barrier), and `/bin/true` as the fork+exec floor, interleaved call by call.
fn notify_time(n: usize) {
    let rx = Receiver::start();
    let herald = herald_bin();
    assert!(
        herald.exists(),
        "build herald first: cargo build --release -p herald"
    );
    let mut cmds: Vec<(&str, Vec<String>)> = vec![
        ("/bin/true", vec!["/bin/true".into()]),
        (
            "herald notify --ready",
            vec![
                herald.to_string_lossy().into_owned(),
                "notify".into(),
                "--ready".into(),
            ],
        ),
    ];
    let have_sd = Path::new("/usr/bin/systemd-notify").exists();
    if have_sd {
        cmds.push((
            "systemd-notify --ready",
            vec!["/usr/bin/systemd-notify".into(), "--ready".into()],
        ));
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(n); cmds.len()];
    for i in 0..n + 20 {
        for (k, (_, argv)) in cmds.iter().enumerate() {
            let t = Instant::now();
            let status = Command::new(&argv[0])
                .args(&argv[1..])
                .env("NOTIFY_SOCKET", rx.socket())
                .stdin(Stdio::null())
                .status()
                .unwrap();
            let dt = us(t.elapsed());
            assert!(status.success(), "{argv:?} failed");
            if i >= 20 {
                times[k].push(dt);
            }
        }
    }
    println!("notify-time: fork+exec+wait per call, N={n}, alternating, same receiver");
    let mut p50s = Vec::new();
    for ((name, _), t) in cmds.iter().zip(times) {
        let s = stats(t);
        println!(
            "  {name:<26} p50 {:>8.0} µs   mean {:>8.0} µs   p99 {:>8.0} µs",
            s.p50, s.mean, s.p99
        );
        p50s.push(s.p50);
    }
    if have_sd {
        println!(
            "  ratio herald / systemd-notify (p50): {:.3}  (target ≤ 0.5)",
            p50s[1] / p50s[2]
        );
    }
    println!("  datagrams received: {}", rx.count.load(Ordering::Relaxed));
}

/// The bare floor of a barrier: pipe2 + sendmsg(SCM_RIGHTS) + close + poll, nothing else.
fn floor_barrier(sock: &OwnedFd, addr: &SocketAddrUnix) {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [w.as_fd()];
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg_addr(
        sock,
        addr,
        &[std::io::IoSlice::new(b"BARRIER=1")],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .unwrap();
    drop(w);
    let mut pfd = [rustix::event::PollFd::new(
        &r,
        rustix::event::PollFlags::empty(),
    )];
    rustix::event::poll(&mut pfd, None).unwrap();
}

fn floor_notify(sock: &OwnedFd, addr: &SocketAddrUnix) {
    rustix::net::sendto(sock, b"STATUS=x", SendFlags::NOSIGNAL, addr).unwrap();
}

fn time_loop(n: usize, mut f: impl FnMut()) -> Vec<f64> {
    for _ in 0..n / 10 + 10 {
        f();
    }
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            us(t.elapsed())
        })
        .collect()
}

fn client(n: usize) {
    let rx = Receiver::start();
    let addr = SocketAddrUnix::new(rx.socket()).unwrap();
    let sock = dgram_socket();
    let notifier = Notifier::new(NotifyAddress::Path(rx.socket()));
    let mut rows: Vec<(String, Stats)> = Vec::new();
    // Interleave in rounds so drift affects every row alike.
    let rounds = 5;
    let mut acc: Vec<Vec<f64>> = vec![Vec::new(); 4];
    for _ in 0..rounds {
        acc[0].extend(time_loop(n / rounds, || floor_notify(&sock, &addr)));
        acc[1].extend(time_loop(n / rounds, || {
            notifier.notify(&[Field::Status("x")]).unwrap()
        }));
        acc[2].extend(time_loop(n / rounds, || floor_barrier(&sock, &addr)));
        acc[3].extend(time_loop(n / rounds, || {
            notifier.barrier(Duration::from_secs(10)).unwrap()
        }));
    }
    let names = [
        "floor: sendto STATUS=x",
        "herald notify(STATUS=x)",
        "floor: barrier round trip",
        "herald barrier()",
    ];
    for (name, v) in names.iter().zip(acc) {
        rows.push((name.to_string(), stats(v)));
    }
    if let Some(bin) = manager::peer_client("barrier_loop") {
        let out = std::env::temp_dir().join("herald-bench-barrier_loop.txt");
        let ok = Command::new(&bin)
            .arg(n.to_string())
            .arg(&out)
            .env("NOTIFY_SOCKET", rx.socket())
            .status()
            .unwrap();
        assert!(ok.success());
        let text = std::fs::read_to_string(&out).unwrap();
        let kv = |k: &str| -> f64 {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{k}=")))
                .unwrap()
                .parse()
                .unwrap()
        };
        rows.push((
            "libsystemd sd_notify_barrier()".into(),
            Stats {
                p50: kv("p50_us"),
                p99: kv("p99_us"),
                mean: kv("mean_us"),
            },
        ));
    }
    let cpus = cpus_allowed();
    println!("client: per call, N={n}, same receiver (CPUs allowed: {cpus})");
    for (name, s) in &rows {
        println!(
            "  {name:<32} p50 {:>7.2} µs   mean {:>7.2} µs   p99 {:>7.2} µs",
            s.p50, s.mean, s.p99
        );
    }
    println!(
        "  ratio herald notify / floor (p50):  {:.2}",
        rows[1].1.p50 / rows[0].1.p50
    );
    println!(
        "  ratio herald barrier / floor (p50): {:.2}  (target ≤ 1.5)",
        rows[3].1.p50 / rows[2].1.p50
    );
    if rows.len() > 4 {
        println!(
            "  ratio herald barrier / libsystemd (p50): {:.2}",
            rows[3].1.p50 / rows[4].1.p50
        );
    }
}

mod manager;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = |default: usize| {
        args.get(2)
            .map(|v| v.parse().expect("N is a number"))
            .unwrap_or(default)
    };
    match args.get(1).map(String::as_str) {
        Some("notify-time") => notify_time(n(300)),
        Some("client") => client(n(20000)),
        Some("flood") => manager::flood(n(100_000) as u64),
        Some("flood-client") => manager::flood_client(&args[2..]),
        Some("barrier") => manager::barrier(n(10_000) as u64),
        Some("barrier-client") => manager::barrier_client(&args[2..]),
        Some("rss") => manager::rss(&args[2..]),
        _ => {
            eprintln!("usage: herald-bench notify-time [N] | client [N] | flood [N] | barrier [N] | rss [K...]");
            std::process::exit(2);
        }
    }
}
