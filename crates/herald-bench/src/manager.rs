//! Benchmarks of the manager, `herald up`, each next to systemd 252 doing the same work
//! through `../shared/peer-systemd` (root only; skipped with a note otherwise).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use herald_notify::{Field, Notifier, NotifyAddress};

/// `../shared` from the repository root or from the crate.
fn shared() -> Option<PathBuf> {
    ["../shared", "../../shared", "../../../shared"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.join("peer-systemd").is_dir())
}

/// Compiles one of the peer's C clients (linked against libsystemd.so.0).
pub(crate) fn peer_client(name: &str) -> Option<PathBuf> {
    let src = shared()?.join("peer-systemd/src").join(format!("{name}.c"));
    let out = std::env::temp_dir().join(format!("herald-bench-{name}"));
    let ok = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("/lib/x86_64-linux-gnu/libsystemd.so.0")
        .status()
        .ok()?
        .success();
    ok.then_some(out)
}

/// A running `herald up` on a unit directory, with its output lines on a channel.
struct Manager {
    child: Child,
    lines: mpsc::Receiver<String>,
    _dir: tempfile_lite::Dir,
}

mod tempfile_lite {
    //! A directory removed on drop (the bench has no tempfile dependency).
    use std::path::{Path, PathBuf};

    pub struct Dir(pub PathBuf);

    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let p = std::env::temp_dir().join(format!("herald-bench-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Manager {
    fn start(units: &[(&str, String)], names: &[String]) -> Manager {
        let dir = tempfile_lite::Dir::new("units");
        let unit_dir = dir.path().join("units");
        std::fs::create_dir_all(&unit_dir).unwrap();
        for (name, text) in units {
            std::fs::write(unit_dir.join(name), text).unwrap();
        }
        // HERALD_BENCH_QLEN=512 runs herald in a private network namespace whose
        // net.unix.max_dgram_qlen is 512, as systemd sets it at boot (and as the peer
        // measurement has it); the host's default is 10.
        let mut cmd = match std::env::var("HERALD_BENCH_QLEN") {
            Ok(q) => {
                let mut c = Command::new("unshare");
                c.args([
                    "--net",
                    "--",
                    "sh",
                    "-c",
                    &format!("echo {q} > /proc/sys/net/unix/max_dgram_qlen && exec \"$0\" \"$@\""),
                ]);
                c.arg(crate::herald_bin());
                c
            }
            Err(_) => Command::new(crate::herald_bin()),
        };
        let mut child = cmd
            .arg("up")
            .arg("--runtime-dir")
            .arg(dir.path().join("run"))
            .arg(&unit_dir)
            .args(names)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("build herald first: cargo build --release -p herald");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Manager {
            child,
            lines,
            _dir: dir,
        }
    }

    fn wait_line(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// utime + stime of the manager, in seconds.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
        ticks / 100.0
    }

    fn status_kb(&self, key: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn wait_for_file(path: &Path, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with('\n') {
                return s;
            }
        }
        assert!(Instant::now() < deadline, "no result in {}", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kv(line: &str, key: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))?
        .parse()
        .ok()
}

/// Runs one of the peer's scripts and returns its output (None without root or peer).
fn peer(script: &str, args: &[String], pin: bool) -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        println!("  (systemd peer skipped: needs root)");
        return None;
    }
    let dir = shared()?.join("peer-systemd");
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", "bash"]);
        c
    } else {
        Command::new("bash")
    };
    let out = cmd
        .arg(dir.join(script))
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// herald's own flood client: READY=1, a barrier, N × STATUS=x, a barrier; writes the
/// same result line as the peer's notify_flood.
pub fn flood_client(args: &[String]) {
    let n: u64 = args.first().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let out = args.get(1).cloned().unwrap_or_else(|| "/dev/stdout".into());
    let addr = std::env::var_os("NOTIFY_SOCKET").expect("NOTIFY_SOCKET");
    let notifier = Notifier::new(NotifyAddress::parse(&addr).unwrap());
    notifier.notify(&[Field::Ready]).unwrap();
    notifier.barrier(Duration::from_secs(60)).unwrap();
    let t0 = Instant::now();
    let mut fails = 0;
    for _ in 0..n {
        if notifier.notify(&[Field::Status("x")]).is_err() {
            fails += 1;
        }
    }
    let t1 = t0.elapsed().as_secs_f64();
    let r = notifier.barrier(Duration::from_secs(120));
    let t2 = t0.elapsed().as_secs_f64();
    std::fs::write(
        out,
        format!(
            "n={n} send_fail={fails} barrier_rc={} send_s={t1:.6} total_s={t2:.6} msgs_per_s={:.0} send_rate={:.0}\n",
            if r.is_ok() { 1 } else { -1 },
            n as f64 / t2,
            n as f64 / t1
        ),
    )
    .unwrap();
}

/// herald's own barrier client: N barrier round trips, per-call latency statistics in
/// the same format as the peer's barrier_loop.
pub fn barrier_client(args: &[String]) {
    let n: usize = args.first().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let out = args.get(1).cloned().unwrap_or_else(|| "/dev/stdout".into());
    let addr = std::env::var_os("NOTIFY_SOCKET").expect("NOTIFY_SOCKET");
    let notifier = Notifier::new(NotifyAddress::parse(&addr).unwrap());
    notifier.notify(&[Field::Ready]).unwrap();
    notifier.barrier(Duration::from_secs(10)).unwrap();
    let mut d: Vec<f64> = Vec::with_capacity(n);
    let t0 = Instant::now();
    for _ in 0..n {
        let a = Instant::now();
        notifier.barrier(Duration::from_secs(10)).unwrap();
        d.push(a.elapsed().as_secs_f64() * 1e6);
    }
    let total = t0.elapsed().as_secs_f64();
    let mean = d.iter().sum::<f64>() / n as f64;
    d.sort_by(|a, b| a.partial_cmp(b).unwrap());
    std::fs::write(
        out,
        format!(
            "n={n} fails=0 total_s={total:.4} per_s={:.0} mean_us={mean:.1} p50_us={:.1} p90_us={:.1} p99_us={:.1} max_us={:.1} min_us={:.1}\n",
            n as f64 / total,
            d[n / 2],
            d[n * 9 / 10],
            d[n * 99 / 100],
            d[n - 1],
            d[0]
        ),
    )
    .unwrap();
}

/// One flood through `herald up`: (msgs/s, manager CPU µs per message).
fn flood_herald(client: &[String], n: u64) -> (f64, f64) {
    let res = std::env::temp_dir().join(format!("herald-bench-flood-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&res);
    let exec = client
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let unit = format!(
        "[Service]\nType=notify\nNotifyAccess=all\nTimeoutStartSec=60s\nExecStart={exec} {n} {}\n",
        res.display()
    );
    let m = Manager::start(&[("flood.service", unit)], &[]);
    assert!(
        m.wait_line(
            |l| l.starts_with("Started flood.service"),
            Duration::from_secs(30)
        ),
        "flood unit did not start"
    );
    let c0 = m.cpu_seconds();
    let line = wait_for_file(&res, Duration::from_secs(300));
    let c1 = m.cpu_seconds();
    m.stop();
    let _ = std::fs::remove_file(&res);
    let rate = kv(&line, "msgs_per_s").unwrap();
    (rate, (c1 - c0) * 1e6 / n as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Notification throughput: one sender floods STATUS= then waits on a barrier.
pub fn flood(n: u64) {
    let reps = 3;
    let me = std::env::current_exe().unwrap().display().to_string();
    let herald_client = vec![me, "flood-client".to_string()];
    println!("flood: N={n} × STATUS=x then a barrier; msgs/s until the barrier returns (median of {reps})");
    let mut rows: Vec<(String, f64, f64)> = Vec::new();
    let run = |client: &[String]| {
        let mut rates = Vec::new();
        let mut cpus = Vec::new();
        for _ in 0..reps {
            let (r, c) = flood_herald(client, n);
            rates.push(r);
            cpus.push(c);
        }
        (median(rates), median(cpus))
    };
    let (r, c) = run(&herald_client);
    rows.push(("herald up ← herald client".into(), r, c));
    if rustix::process::geteuid().is_root() && std::env::var_os("HERALD_BENCH_QLEN").is_none() {
        std::env::set_var("HERALD_BENCH_QLEN", "512");
        let (r, c) = run(&herald_client);
        std::env::remove_var("HERALD_BENCH_QLEN");
        rows.push(("  same, max_dgram_qlen 512".into(), r, c));
    }
    if let Some(sd) = peer_client("notify_flood") {
        let (r, c) = run(&[sd.display().to_string()]);
        rows.push(("herald up ← libsystemd client".into(), r, c));
    }
    for (name, rate, cpu) in &rows {
        println!("  {name:<34} {rate:>9.0} msg/s   manager CPU {cpu:>5.2} µs/msg");
    }
    if std::env::var_os("HERALD_BENCH_NO_PEER").is_some() {
        return;
    }
    if let Some(out) = peer("bench-flood.sh", &["1".into(), n.to_string()], false) {
        let sd = out
            .lines()
            .find(|l| l.starts_with("systemd rep1:"))
            .unwrap_or("");
        let rate = kv(sd, "msgs_per_s");
        let cpu_s = kv(sd, "systemd_cpu_s");
        if let (Some(rate), Some(cpu_s)) = (rate, cpu_s) {
            let cpu = cpu_s * 1e6 / n as f64;
            println!(
                "  {:<34} {rate:>9.0} msg/s   manager CPU {cpu:>5.2} µs/msg",
                "systemd 252 ← libsystemd client"
            );
            let same_client = rows
                .iter()
                .find(|r| r.0.contains("libsystemd"))
                .map_or(rows[0].1, |r| r.1);
            let best = rows.iter().map(|r| r.1).fold(0.0, f64::max);
            println!(
                "  ratio herald/systemd, same libsystemd client: {:.1}× msg/s",
                same_client / rate
            );
            println!(
                "  ratio herald/systemd, herald client, host qlen: {:.1}× msg/s",
                rows[0].1 / rate
            );
            println!("  ratio herald/systemd, herald client, qlen 512 as the peer: {:.1}× msg/s (target ≥ 10×)", best / rate);
            println!(
                "  ratio systemd/herald manager CPU per message: {:.1}×",
                cpu / rows[0].2
            );
        }
    }
}

/// One barrier loop (`client N OUT`) as a unit of `herald up`; returns its result line.
fn barrier_herald(client: &[String], n: u64) -> String {
    let res = std::env::temp_dir().join(format!("herald-bench-barrier-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&res);
    let exec = client.join(" ");
    let unit = format!(
        "[Service]\nType=notify\nNotifyAccess=all\nExecStart={exec} {n} {}\n",
        res.display()
    );
    let m = Manager::start(&[("barrier.service", unit)], &[]);
    let line = wait_for_file(&res, Duration::from_secs(300));
    m.stop();
    let _ = std::fs::remove_file(&res);
    line
}

/// Barrier round trip through the manager, with herald's client and with libsystemd's
/// sd_notify_barrier, next to systemd 252.
pub fn barrier(n: u64) {
    let cpus = crate::cpus_allowed();
    let pinned = cpus == "0";
    println!("barrier: N={n} barrier round trips through the manager (CPUs allowed: {cpus})");
    let me = std::env::current_exe().unwrap().display().to_string();
    let ours = barrier_herald(&[me, "barrier-client".into()], n);
    let (p50, p99) = (kv(&ours, "p50_us").unwrap(), kv(&ours, "p99_us").unwrap());
    println!("  herald up ← herald barrier()          p50 {p50:>7.1} µs   p99 {p99:>7.1} µs");
    let mut sd_client_p50 = None;
    if let Some(client) = peer_client("barrier_loop") {
        let line = barrier_herald(&[client.display().to_string()], n);
        let (lp50, lp99) = (kv(&line, "p50_us").unwrap(), kv(&line, "p99_us").unwrap());
        sd_client_p50 = Some(lp50);
        println!("  herald up ← libsystemd barrier        p50 {lp50:>7.1} µs   p99 {lp99:>7.1} µs");
    }
    if let Some(out) = peer("bench-barrier.sh", &["1".into(), n.to_string()], pinned) {
        if let Some(sd) = out.lines().find(|l| l.starts_with("systemd rep1:")) {
            let (sp50, sp99) = (
                kv(sd, "p50_us").unwrap_or(f64::NAN),
                kv(sd, "p99_us").unwrap_or(f64::NAN),
            );
            println!(
                "  systemd 252 ← libsystemd barrier      p50 {sp50:>7.1} µs   p99 {sp99:>7.1} µs"
            );
            if let Some(l) = sd_client_p50 {
                println!(
                    "  ratio herald/systemd, same libsystemd client (p50): {:.2}",
                    l / sp50
                );
            }
        }
    }
    if pinned {
        println!(
            "  ratio herald/floor 4.8 µs (p50, ../shared/floor/README.md): {:.2} (target ≤ 1.5)",
            p50 / 4.8
        );
    } else {
        println!("  (unpinned: a cross-CPU wake-up costs ≈55 µs on this VM; the floor is ≈58 µs)");
    }
}

/// Manager memory with K idle Type=notify units.
pub fn rss(args: &[String]) {
    let ks: Vec<usize> = if args.is_empty() {
        vec![1, 100, 1000]
    } else {
        args.iter().map(|a| a.parse().unwrap()).collect()
    };
    let Some(idle) = peer_client("idle") else {
        println!("rss: needs gcc and ../shared/peer-systemd");
        return;
    };
    println!("rss: manager memory with K active idle Type=notify units (libsystemd client, READY=1 then pause)");
    for k in ks {
        let unit = format!(
            "[Service]\nType=notify\nTimeoutStartSec=120s\nExecStart={}\n",
            idle.display()
        );
        let names: Vec<String> = (0..k).map(|i| format!("idle@{i}.service")).collect();
        let t0 = Instant::now();
        let m = Manager::start(&[("idle@.service", unit)], &names);
        let mut started = 0;
        while started < k
            && m.wait_line(|l| l.starts_with("Started idle@"), Duration::from_secs(120))
        {
            started += 1;
        }
        let took = t0.elapsed();
        let (hwm, rss, anon) = (
            m.status_kb("VmHWM:"),
            m.status_kb("VmRSS:"),
            m.status_kb("RssAnon:"),
        );
        m.stop();
        print!("  K={k:<5} herald: VmHWM {hwm:>6} kB  VmRSS {rss:>6} kB  RssAnon {anon:>6} kB  ({started} active in {:.2} s)", took.as_secs_f64());
        if let Some(out) = peer("bench-rss.sh", &["1".into(), k.to_string()], false) {
            let sd = out.lines().find(|l| l.contains("VmHWM=")).unwrap_or("");
            let sd_hwm = sd
                .split_whitespace()
                .find_map(|w| w.strip_prefix("VmHWM="))
                .and_then(|v| v.parse::<f64>().ok());
            match sd_hwm {
                Some(v) => println!("   systemd VmHWM {v:.0} kB   ratio herald/systemd {:.2} (target ≤ 0.25 at K=1000)", hwm as f64 / v),
                None => println!("   systemd: {}", sd.trim()),
            }
        } else {
            println!();
        }
    }
}
