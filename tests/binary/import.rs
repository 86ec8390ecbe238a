//! Process files of other tools run by sidetop as they are: `sidetop check` lists their
//! processes and what did not map exactly (file:line), `--headless` runs them (in
//! dependency order: a dependent's first line after its dependency is ready), and the
//! TOML that `import` makes of them runs the same processes the same way.

use sidetop::config::Config;
use sidetop::config::import::{self, Format};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import")
}

/// A fixture folder copied into a temp dir, so runs write their log files there.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&fixtures().join(name), dir.path());
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn sidetop(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sidetop"));
    cmd.args(args).stdin(Stdio::null());
    cmd
}

fn check(config: &Path) -> String {
    let out = sidetop(&["check", "--config", config.to_str().unwrap()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "check failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The NAME column of `sidetop check`.
fn listed(text: &str) -> Vec<String> {
    text.lines()
        .skip(2)
        .take_while(|l| !l.starts_with(' ') && !l.starts_with("warning:"))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

/// `sidetop --headless --exit-when-done` to its end; its stdout without timestamps.
fn run_to_end(config: &Path, log_dir: &Path) -> Vec<String> {
    let out: Output = sidetop(&[
        "--headless",
        "--exit-when-done",
        "--config",
        config.to_str().unwrap(),
        "--log-dir",
        log_dir.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    untimed(&String::from_utf8_lossy(&out.stdout))
}

fn untimed(text: &str) -> Vec<String> {
    text.lines().map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).to_string()).collect()
}

fn position(lines: &[String], what: impl Fn(&str) -> bool, name: &str) -> usize {
    lines.iter().position(|l| what(l)).unwrap_or_else(|| panic!("no {name} in:\n{}", lines.join("\n")))
}

/// `name  | text` lines of one sidecar, as headless prints them.
fn output_of(lines: &[String], sidecar: &str) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            let (name, text) = l.split_once(" | ")?;
            (name.trim_end_matches(['!', ' ']) == sidecar).then(|| text.to_string())
        })
        .collect()
}

/// The dependent's first output line comes after the dependency's `ready` event.
fn assert_after_ready(lines: &[String], dependency: &str, dependent: &str) {
    let ready = position(lines, |l| l == format!("{dependency}: ready"), &format!("{dependency}: ready"));
    let first = position(
        lines,
        |l| l.split_once(" | ").is_some_and(|(n, _)| n.trim_end_matches(['!', ' ']) == dependent),
        &format!("output of {dependent}"),
    );
    assert!(ready < first, "{dependent} printed before {dependency} was ready:\n{}", lines.join("\n"));
}

/// The TOML made by `import`, written beside the foreign file (so relative paths
/// resolve the same), loads into the same sidecars and runs the same processes.
fn assert_imported_toml_is_the_same(foreign: &Path, log_dir: &Path, compare_runs: bool) {
    let imported = import::import(foreign).unwrap_or_else(|e| panic!("{}", e.render()));
    assert!(imported.toml.starts_with("# Imported from "), "{}", imported.toml);
    assert!(imported.toml.contains("by `sidetop import`"));
    let toml_path = foreign.with_file_name("imported.toml");
    std::fs::write(&toml_path, &imported.toml).unwrap();
    let direct = Config::load(foreign).unwrap_or_else(|e| panic!("{}", e.render()));
    let via_toml = Config::load(&toml_path).unwrap_or_else(|e| panic!("{}\n{}", e.render(), imported.toml));
    assert!(via_toml.warnings.is_empty());
    assert_eq!(direct.sidecars.len(), via_toml.sidecars.len());
    for (a, b) in direct.sidecars.iter().zip(&via_toml.sidecars) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.argv, b.argv, "{}", a.name);
        assert_eq!(a.cwd, b.cwd, "{}", a.name);
        assert_eq!(a.env, b.env, "{}", a.name);
        assert_eq!(a.restart, b.restart, "{}", a.name);
        assert_eq!(a.depends_on, b.depends_on, "{}", a.name);
        assert_eq!(a.stop_signal, b.stop_signal, "{}", a.name);
        assert_eq!(a.stop_timeout, b.stop_timeout, "{}", a.name);
        assert_eq!(a.autostart, b.autostart, "{}", a.name);
        assert_eq!(a.health, b.health, "{}", a.name);
    }
    if compare_runs {
        let mut a: Vec<String> =
            run_to_end(foreign, log_dir).into_iter().filter(|l| l.contains(" | ")).collect();
        let mut b: Vec<String> =
            run_to_end(&toml_path, log_dir).into_iter().filter(|l| l.contains(" | ")).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "the same output from the foreign file and its TOML");
    }
}

/// `SIDETOP_IMPORT_PRINT=1 cargo test --test import print -- --nocapture` shows the TOML.
/// `sidetop import FILE` as an operator runs it: the TOML on stdout (which `check`
/// accepts and which lists the same sidecars), each approximation as a warning with
/// file:line on stderr; a file it does not know is refused.
#[test]
fn sidetop_import_prints_toml_that_check_accepts_with_the_same_sidecars() {
    for &(file, _) in FIXTURES {
        let dir = copy_fixture(file.split('/').next().unwrap());
        let foreign = dir.path().join(file.split('/').nth(1).unwrap());
        let out = sidetop(&["import", foreign.to_str().unwrap()]).output().unwrap();
        let warnings = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{file}: {warnings}");
        let toml = dir.path().join("imported.toml");
        std::fs::write(&toml, &out.stdout).unwrap();
        assert_eq!(listed(&check(&toml)), listed(&check(&foreign)), "{file}: the same sidecars");
        for line in warnings.lines() {
            assert!(line.starts_with(&format!("warning: {}", dir.path().display())), "{file}: {line}");
        }
    }
    let stranger = tempfile::NamedTempFile::new().unwrap();
    let out = sidetop(&["import", stranger.path().to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a file sidetop imports"));
}

const FIXTURES: &[(&str, Format)] = &[
    ("procfile/Procfile", Format::Procfile),
    ("mprocs/mprocs.yaml", Format::Mprocs),
    ("process-compose/process-compose.yaml", Format::ProcessCompose),
    ("supervisord/supervisord.conf", Format::Supervisord),
    ("pm2/ecosystem.config.js", Format::Pm2),
];

#[test]
fn every_fixture_converts_to_toml_that_config_parse_accepts() {
    for &(file, format) in FIXTURES {
        let path = fixtures().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(import::detect(&path, &text), Some(format), "{file}");
        let imported = import::import(&path).unwrap_or_else(|e| panic!("{}", e.render()));
        assert!(imported.toml.starts_with(&format!("# Imported from {}", path.display())));
        Config::parse(&path, &imported.toml)
            .unwrap_or_else(|e| panic!("{file}: {}\n{}", e.render(), imported.toml));
        for w in &imported.warnings {
            assert!(w.line > 0, "{file}: a warning without a line: {w}");
        }
    }
}

#[test]
fn procfile_runs_with_its_env_file_and_foreman_ports() {
    let path = fixtures().join("procfile/Procfile");
    let listing = check(&path);
    assert_eq!(listed(&listing), ["web", "worker"]);
    assert!(listing.contains(&format!(
        "warning: {}:2: approximated: foreman and honcho stop every process when one exits",
        path.display()
    )));

    let dir = copy_fixture("procfile");
    let procfile = dir.path().join("Procfile");
    let lines = run_to_end(&procfile, dir.path());
    assert_eq!(
        output_of(&lines, "web"),
        ["web listening on port 5000, database postgres://localhost:5432/app_development"]
    );
    assert_eq!(output_of(&lines, "worker"), ["worker started: queue=default concurrency=2"]);
    assert_imported_toml_is_the_same(&procfile, dir.path(), true);
}

#[test]
fn mprocs_waits_for_the_ready_log_and_runs_in_the_config_dir() {
    let path = fixtures().join("mprocs/mprocs.yaml");
    let listing = check(&path);
    assert_eq!(listed(&listing), ["server", "client", "watcher"]);
    let file = path.display();
    for expected in [
        format!("warning: {file}:2: not imported: `hide_keymap_window`"),
        format!("warning: {file}:8: server: not imported: env RUST_LOG: null"),
        format!("warning: {file}:20: watcher: approximated: autorestart: true"),
        format!("warning: {file}:21: watcher: not imported: stop: send-keys"),
    ] {
        assert!(listing.lines().any(|l| l.starts_with(&expected)), "{expected:?} in\n{listing}");
    }

    let dir = copy_fixture("mprocs");
    let yaml = dir.path().join("mprocs.yaml");
    let lines = run_to_end(&yaml, dir.path());
    assert_after_ready(&lines, "server", "client");
    assert_eq!(output_of(&lines, "client"), ["client in sub talks to 3000"]);
    assert!(!lines.iter().any(|l| l.starts_with("watcher: started")), "watcher has autostart: false");
    assert_imported_toml_is_the_same(&yaml, dir.path(), false);
}

/// A headless sidetop that keeps running (a server in it), read line by line.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(config: &Path, log_dir: &Path, env: &[(&str, String)]) -> Running {
        let mut cmd = sidetop(&[
            "--headless",
            "--config",
            config.to_str().unwrap(),
            "--log-dir",
            log_dir.to_str().unwrap(),
        ]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines, seen: Vec::new() }
    }

    fn wait_for(&mut self, what: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.seen.iter().any(|l| what(l)) {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => self.seen.push(untimed(&line).remove(0)),
                Err(_) => panic!("not seen in:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn stop(mut self) -> Vec<String> {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn process_compose_waits_for_a_healthy_http_server_with_env_files() {
    let path = fixtures().join("process-compose/process-compose.yaml");
    let listing = check(&path);
    assert_eq!(listed(&listing), ["api", "migrate", "worker", "docs"]);
    let file = path.display();
    for expected in [
        format!("warning: {file}:23: api: approximated: max_restarts: 3"),
        format!(
            "warning: {file}:42: worker: not imported: depends_on migrate: process_completed_successfully"
        ),
        format!("warning: {file}:50: docs: not imported: is_tty"),
    ] {
        assert!(listing.lines().any(|l| l.starts_with(&expected)), "{expected:?} in\n{listing}");
    }

    let dir = copy_fixture("process-compose");
    let yaml = dir.path().join("process-compose.yaml");
    // The port comes from .env, as `${API_PORT:-8080}` in the file reads it.
    let port = free_port();
    let dotenv = dir.path().join(".env");
    let mut env_text = std::fs::read_to_string(&dotenv).unwrap();
    env_text.push_str(&format!("API_PORT={port}\n"));
    std::fs::write(&dotenv, env_text).unwrap();
    let imported = import::import(&yaml).unwrap_or_else(|e| panic!("{}", e.render()));
    let toml_path = dir.path().join("imported.toml");
    std::fs::write(&toml_path, &imported.toml).unwrap();
    let config = Config::load(&toml_path).unwrap();
    let api = config.sidecar("api").unwrap();
    assert_eq!(api.argv, ["bash", "-c", &format!("python3 -m http.server {port} --bind 127.0.0.1")]);
    assert_eq!(api.restart, sidetop::config::RestartPolicy::OnFailure);
    assert_eq!(api.stop_signal, nix::sys::signal::Signal::SIGINT);
    assert!(!config.sidecar("docs").unwrap().autostart);

    let worker_line = format!("worker for development uses http://127.0.0.1:{port}");
    let migrate_line = "migrating postgres://localhost/pc_development from ./db/migrations".to_string();
    for config in [&yaml, &toml_path] {
        let mut run = Running::start(config, dir.path(), &[]);
        for (who, text) in [("migrate", &migrate_line), ("worker", &worker_line)] {
            run.wait_for(|l| l.split_once(" | ").is_some_and(|(n, t)| n.trim() == who && t == text));
        }
        let lines = run.stop();
        assert_after_ready(&lines, "api", "migrate");
        assert_after_ready(&lines, "api", "worker");
        assert!(
            !lines.iter().any(|l| l.starts_with("docs: started")),
            "docs is disabled:\n{}",
            lines.join("\n")
        );
    }
}

#[test]
fn supervisord_expands_numprocs_and_reads_includes() {
    let path = fixtures().join("supervisord/supervisord.conf");
    let included = fixtures().join("supervisord/conf.d/scheduler.conf");
    let listing = check(&path);
    assert_eq!(listed(&listing), ["web", "worker_00", "worker_01", "scheduler"]);
    let file = path.display();
    for expected in [
        format!("warning: {}:5: scheduler: not imported: user=nobody", included.display()),
        format!("warning: {file}:24: web: approximated: priority=10"),
        format!("warning: {file}:31: worker_00: approximated: autorestart=unexpected with exitcodes=[0, 2]"),
        format!("warning: {file}:5: not imported: [supervisord] logfile, nodaemon"),
    ] {
        assert!(listing.lines().any(|l| l.starts_with(&expected)), "{expected:?} in\n{listing}");
    }
    let config = Config::load(&path).unwrap();
    let web = config.sidecar("web").unwrap();
    assert_eq!(web.stop_signal, nix::sys::signal::Signal::SIGQUIT);
    assert_eq!(web.stop_timeout, Duration::from_secs(5));
    assert_eq!(config.sidecar("worker_00").unwrap().restart, sidetop::config::RestartPolicy::OnFailure);
    assert_eq!(web.restart, sidetop::config::RestartPolicy::Never);

    let dir = copy_fixture("supervisord");
    let conf = dir.path().join("supervisord.conf");
    let lines = run_to_end(&conf, dir.path());
    let here = std::path::absolute(dir.path()).unwrap();
    assert_eq!(output_of(&lines, "web"), [format!("web serving in {} env=production", here.display())]);
    assert_eq!(output_of(&lines, "worker_00"), ["worker 0 of 2 on default id=w0"]);
    assert_eq!(output_of(&lines, "worker_01"), ["worker 1 of 2 on default id=w1"]);
    assert_eq!(output_of(&lines, "scheduler"), [format!("scheduler tick in {}/conf.d", here.display())]);
    let log = std::fs::read_to_string(dir.path().join("web.log")).unwrap();
    assert!(log.contains("web serving in"), "{log}");
    assert_imported_toml_is_the_same(&conf, dir.path(), true);
}

#[test]
fn pm2_ecosystem_js_is_evaluated_by_node_with_numbered_instances() {
    let path = fixtures().join("pm2/ecosystem.config.js");
    let listing = check(&path);
    assert_eq!(listed(&listing), ["api-0", "api-1", "worker"]);
    let file = path.display();
    for expected in [
        format!("warning: {file}:10: api-0: not imported: watch"),
        format!("warning: {file}:10: api-1: not imported: watch"),
        format!("warning: {file}:8: api-0: approximated: cluster mode"),
        format!("warning: {file}:19: api-0: not imported: env_production"),
    ] {
        assert!(listing.lines().any(|l| l.starts_with(&expected)), "{expected:?} in\n{listing}");
    }
    let config = Config::load(&path).unwrap();
    let api = config.sidecar("api-1").unwrap();
    assert_eq!(api.stop_signal, nix::sys::signal::Signal::SIGINT);
    assert_eq!(api.stop_timeout, Duration::from_secs(3));
    assert_eq!(config.sidecar("worker").unwrap().argv, ["python3", "worker.py", "--queue", "default"]);

    let dir = copy_fixture("pm2");
    let js = dir.path().join("ecosystem.config.js");
    let lines = run_to_end(&js, dir.path());
    assert_eq!(output_of(&lines, "api-0"), ["api instance 0 on port 3000 (development)"]);
    assert_eq!(output_of(&lines, "api-1"), ["api instance 1 on port 3000 (development)"]);
    assert_eq!(output_of(&lines, "worker"), ["worker args --queue default"]);
    assert!(dir.path().join("api-out-1.log").exists(), "each instance has its own log file");
    assert_imported_toml_is_the_same(&js, dir.path(), true);
}

#[test]
fn a_js_ecosystem_file_without_node_says_node_is_needed() {
    let path = fixtures().join("pm2/ecosystem.config.js");
    let empty = tempfile::tempdir().unwrap();
    let out =
        sidetop(&["check", "--config", path.to_str().unwrap()]).env("PATH", empty.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("node is not installed"), "{stderr}");
}

#[test]
fn syntax_errors_name_the_foreign_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("process-compose.yaml");
    std::fs::write(&yaml, "processes:\n  web:\n    command: \"echo hi\n  db:\n    command: [unclosed\n")
        .unwrap();
    let conf = dir.path().join("supervisord.conf");
    std::fs::write(&conf, "[program:web]\ncommand=/bin/cat\n\nthis line has no equals sign\n").unwrap();
    let mprocs = dir.path().join("mprocs.yaml");
    std::fs::write(&mprocs, "procs:\n  a:\n    shell: echo\n   bad: indent\n").unwrap();
    for (path, place) in [(&yaml, None), (&conf, Some(":4:1: ")), (&mprocs, None)] {
        let out = sidetop(&["check", "--config", path.to_str().unwrap()]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let prefix = format!("error: {}:", path.display());
        assert!(stderr.starts_with(&prefix), "{stderr}");
        let rest = &stderr[prefix.len()..];
        let mut numbers = rest.split(':').take(2).map(|n| n.parse::<usize>());
        assert!(numbers.all(|n| n.is_ok_and(|n| n > 0)), "line and column in {stderr}");
        if let Some(place) = place {
            assert!(stderr.contains(place), "{place} in {stderr}");
            assert!(stderr.contains("expected `key = value`"), "{stderr}");
        } else {
            assert!(stderr.contains("YAML syntax error"), "{stderr}");
        }
        assert!(stderr.contains(" | "), "the source line under the message: {stderr}");
    }
}
