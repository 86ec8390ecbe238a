//! Engine benchmark: log drain, idle cost, restart latency. Prints figures; asserts
//! nothing (timing goals are judged by people, on noisy shared machines, as ratios to a
//! baseline measured in the same run).
//!
//!     cargo bench --bench engine            # full run (about a minute)
//!     SIDETOP_BENCH_QUICK=1 cargo bench --bench engine   # shorter idle window
//!
//! - drain: a child writes 2,000,000 lines of 100 bytes as fast as it can, once through
//!   headless sidetop (its stdout to /dev/null) and once into `cat >/dev/null`; the child
//!   times itself. Also sidetop's own CPU seconds and peak RSS (from /proc, children excluded).
//! - idle: sidetop's CPU over a window with 50 sleeping sidecars, and its RSS.
//! - restart: a child that exits 1 after 200 ms with backoff 0; time from the child's last
//!   instruction before exit to the next child's spawn, through the engine and through a
//!   bare spawn/wait loop (the baseline).

use sidetop::config::Config;
use sidetop::supervisor::{EventKind, Options, Supervisor};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const LINES: u64 = 2_000_000;
const RUNS: usize = 3;

fn main() {
    let quick = std::env::var_os("SIDETOP_BENCH_QUICK").is_some();
    let dir = tempfile::tempdir().expect("tempdir");
    println!(
        "sidetop engine benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    drain(dir.path());
    idle(dir.path(), if quick { 5 } else { 20 });
    restart_latency(dir.path(), if quick { 15 } else { 40 });
}

fn sidetop() -> &'static str {
    env!("CARGO_BIN_EXE_sidetop")
}

/// utime + stime of one process (not its children), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// A `/proc/<pid>/status` field in kB (VmRSS, VmHWM).
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status.lines().find(|l| l.starts_with(field)).expect(field);
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn write_config(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write config");
    path
}

fn start_headless(config: &Path, log_dir: &Path) -> std::process::Child {
    Command::new(sidetop())
        .args(["--headless", "--config"])
        .arg(config)
        .arg("--log-dir")
        .arg(log_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sidetop")
}

fn stop(mut child: std::process::Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

fn wait_for_file(path: &Path, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn drain(dir: &Path) {
    let line = "x".repeat(99); // + newline = 100 bytes
    let wrapper = |out: &Path| {
        format!(
            "s=$(date +%s%N); yes {line} | head -n {LINES}; e=$(date +%s%N); echo $((e - s)) > {}",
            out.display()
        )
    };
    let (mut through_sidetop, mut through_cat, mut cpu, mut hwm) = (vec![], vec![], vec![], vec![]);
    for run in 0..RUNS {
        let out = dir.join(format!("drain-cat-{run}"));
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("({}) | cat >/dev/null", wrapper(&out)))
            .status()
            .unwrap();
        assert!(status.success());
        through_cat.push(wait_for_file(&out, Duration::from_secs(60)).trim().parse::<f64>().unwrap() / 1e9);

        let out = dir.join(format!("drain-sidetop-{run}"));
        let config = write_config(
            dir,
            "drain.toml",
            &format!(
                "[[sidecar]]\nname = \"writer\"\nrestart = \"never\"\ncommand = [\"sh\", \"-c\", {:?}]\n",
                wrapper(&out)
            ),
        );
        let child = start_headless(&config, &dir.join("logs"));
        let secs = wait_for_file(&out, Duration::from_secs(120)).trim().parse::<f64>().unwrap() / 1e9;
        // Let sidetop finish printing what is still in the pipe before reading its CPU.
        std::thread::sleep(Duration::from_millis(500));
        through_sidetop.push(secs);
        cpu.push(cpu_seconds(child.id()));
        hwm.push(status_kb(child.id(), "VmHWM") as f64 / 1024.0);
        stop(child);
    }
    let (s, c) = (median(through_sidetop.clone()), median(through_cat.clone()));
    println!("\n== drain: {LINES} lines x 100 bytes, median of {RUNS} runs");
    println!("child wall time through cat:     {c:.3} s   (runs: {through_cat:.3?})");
    println!("child wall time through sidetop: {s:.3} s   (runs: {through_sidetop:.3?})");
    println!("ratio sidetop / cat:             {:.2}   (target <= 1.5)", s / c);
    println!("sidetop CPU:                     {:.2} s   (runs: {cpu:.2?})", median(cpu.clone()));
    println!(
        "sidetop peak RSS:                {:.1} MB  (runs: {hwm:.1?}; target <= 30 MB)",
        median(hwm.clone())
    );
}

fn idle(dir: &Path, window_secs: u64) {
    let mut body = String::new();
    for i in 0..50 {
        body.push_str(&format!("[[sidecar]]\nname = \"sleeper{i}\"\ncommand = [\"sleep\", \"100000\"]\n"));
    }
    let config = write_config(dir, "idle.toml", &body);
    let child = start_headless(&config, &dir.join("logs"));
    std::thread::sleep(Duration::from_secs(3));
    let (cpu0, t0) = (cpu_seconds(child.id()), Instant::now());
    std::thread::sleep(Duration::from_secs(window_secs));
    let (cpu1, elapsed) = (cpu_seconds(child.id()), t0.elapsed().as_secs_f64());
    let rss = status_kb(child.id(), "VmRSS") as f64 / 1024.0;
    stop(child);
    println!("\n== idle: 50 sleeping sidecars, {window_secs} s window");
    println!(
        "sidetop CPU: {:.3}% of a core   (target <= 0.2%; clock tick resolution 10 ms)",
        (cpu1 - cpu0) / elapsed * 100.0
    );
    println!("sidetop RSS: {rss:.1} MB   (target <= 20 MB)");
}

/// The child: sleeps 200 ms, appends its wall-clock time in ns just before exiting 1.
const EXITER: &str = "import os, time, sys\ntime.sleep(0.2)\nwith open(sys.argv[1], 'a') as f: f.write(f'{time.time_ns()}\\n')\nos._exit(1)\n";

fn ns(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as f64
}

fn exit_stamps(path: &Path) -> Vec<f64> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| l.parse().unwrap()).collect()
}

fn restart_latency(dir: &Path, restarts: usize) {
    let script = dir.join("exiter.py");
    std::fs::write(&script, EXITER).unwrap();

    // Baseline: spawn, wait, spawn again, as tight as std allows.
    let stamps = dir.join("baseline-exits");
    let (mut starts, mut waited) = (Vec::new(), Vec::new());
    for _ in 0..restarts {
        let mut child = Command::new("python3").arg(&script).arg(&stamps).spawn().unwrap();
        starts.push(ns(SystemTime::now()));
        child.wait().unwrap();
        waited.push(ns(SystemTime::now()));
    }
    let base_stamps = exit_stamps(&stamps);
    let mut baseline: Vec<f64> =
        base_stamps.iter().zip(&starts[1..]).map(|(exit, start)| (start - exit) / 1e6).collect();
    let mut base_detect: Vec<f64> =
        base_stamps.iter().zip(&waited).map(|(exit, seen)| (seen - exit) / 1e6).collect();

    // Through the engine.
    let stamps = dir.join("engine-exits");
    let toml = format!(
        "[[sidecar]]\nname = \"exiter\"\ncommand = [\"python3\", {:?}, {:?}]\nbackoff = {{ initial = \"0\" }}\ncrash_loop = {{ max_exits = 100000 }}\n",
        script.display().to_string(),
        stamps.display().to_string()
    );
    let config = Config::parse(&dir.join("restart.toml"), &toml).expect("config");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (starts, exits): (Vec<f64>, Vec<f64>) = runtime.block_on(async {
        let sup = Supervisor::start(&config, Options::default()).unwrap();
        let h = sup.get("exiter").unwrap().clone();
        let count = || h.events().iter().filter(|e| matches!(e.kind, EventKind::Started { .. })).count();
        while count() < restarts + 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sup.shutdown().await;
        let of = |started: bool| -> Vec<f64> {
            h.events()
                .iter()
                .filter(|e| match e.kind {
                    EventKind::Started { .. } => started,
                    EventKind::Exited { .. } => !started,
                    _ => false,
                })
                .map(|e| ns(e.at))
                .collect()
        };
        (of(true), of(false))
    });
    let stamps_seen = exit_stamps(&stamps);
    let mut detect: Vec<f64> =
        stamps_seen.iter().zip(&exits).map(|(exit, seen)| (seen - exit) / 1e6).collect();
    let mut respawn: Vec<f64> =
        exits.iter().zip(&starts[1..]).map(|(seen, start)| (start - seen) / 1e6).collect();
    let mut engine: Vec<f64> =
        exit_stamps(&stamps).iter().zip(&starts[1..]).map(|(exit, start)| (start - exit) / 1e6).collect();

    println!("\n== restart latency: child exit -> next child spawned, {} restarts", engine.len());
    println!(
        "bare spawn/wait loop: median {:.2} ms, p90 {:.2} ms",
        percentile(&mut baseline, 0.5),
        percentile(&mut baseline, 0.9)
    );
    println!(
        "  of which: exit noticed {:.2} ms median (includes the child's own teardown)",
        percentile(&mut base_detect, 0.5)
    );
    println!(
        "sidetop engine:       median {:.2} ms, p90 {:.2} ms   (target <= 2 ms median)",
        percentile(&mut engine, 0.5),
        percentile(&mut engine, 0.9)
    );
    println!(
        "  of which: exit noticed {:.2} ms median, then respawned {:.2} ms median",
        percentile(&mut detect, 0.5),
        percentile(&mut respawn, 0.5)
    );
}
