//! `sidetop attach` as an operator uses it, in tmux: the dashboard of a running agent
//! over its socket, over an `ssh` stand-in and over a real sshd on 127.0.0.1; actions
//! from the attached dashboard, detach leaving every sidecar running, reattach with the
//! scrollback and history there, two dashboards and a third shell, stopping the agent.

use crate::common;

use common::agent::Agent;
use common::tmux::Tmux;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

const CONFIG: &str = r#"
[[sidecar]]
name = "talker"
command = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.2; done"]

[[sidecar]]
name = "sleeper"
command = ["sleep", "1000"]
"#;

/// The agent the dashboards attach to: both sidecars running.
fn agent() -> Agent {
    Agent::running(CONFIG)
}

/// A tmux pane with `sidetop attach` (extra arguments after), the pane kept open after it
/// exits so what it printed can be read.
fn attach(agent: &Agent, extra: &str) -> Tmux {
    let tmux = Tmux::start(120, 40);
    tmux.type_line(&format!(
        "{} attach --socket {} {extra}; echo attach-exited-$?",
        bin(),
        agent.socket.display()
    ));
    tmux.wait_for("attached to agent");
    tmux
}
#[test]
fn attach_restart_detach_and_reattach() {
    let agent = agent();
    let tmux = attach(&agent, "");
    let screen = tmux.wait_for("line 3");
    assert!(screen.contains("talker") && screen.contains("sleeper"), "{screen}");
    assert!(screen.contains("q detach"), "the footer says q detaches:\n{screen}");

    // `r` on the sleeper: a new process, seen by ctl and on the screen.
    let before = agent.pid_of("sleeper").unwrap();
    tmux.keys(&["j", "r"]);
    wait_until(T, "ctl to see the restarted sleeper", || {
        agent.pid_of("sleeper").is_some_and(|p| p != before)
    });
    let after = agent.pid_of("sleeper").unwrap();
    tmux.wait_for(&format!("restarted sleeper (pid {before} -> {after})"));

    // `q` detaches: the dashboard exits 0 and every sidecar still runs.
    let talker = agent.pid_of("talker").unwrap();
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("attach-exited-0");
    assert!(screen.contains("its sidecars keep running"), "{screen}");
    assert_eq!(agent.pid_of("talker"), Some(talker));
    assert_eq!(agent.pid_of("sleeper"), Some(after));

    // Attach again: the scrollback is there from its first line, and the history.
    let tmux = attach(&agent, "");
    tmux.keys(&["Tab", "g"]);
    tmux.wait_for("line 1 ");
    tmux.keys(&["BTab", "j", "5"]);
    let screen = tmux.wait_for("restart requested");
    assert!(screen.contains(&format!("started (pid {after})")), "{screen}");
}

#[test]
fn two_dashboards_see_a_restart_from_a_third_shell() {
    let agent = agent();
    let (one, two) = (attach(&agent, ""), attach(&agent, "--read-only"));
    let before = agent.pid_of("sleeper").unwrap();
    for tmux in [&one, &two] {
        tmux.wait_for(&before.to_string());
    }
    assert!(agent.ctl(&["restart", "sleeper"]).status.success());
    let after = agent.pid_of("sleeper").unwrap();
    assert_ne!(before, after);
    for tmux in [&one, &two] {
        let screen = tmux.wait_for(&format!("{after} "));
        assert!(screen.contains("sleeper"), "{screen}");
    }
    // The read-only one may watch but not act.
    two.keys(&["j", "r"]);
    two.wait_for("read-only");
    assert_eq!(agent.pid_of("sleeper"), Some(after));
}

#[test]
fn capital_q_stops_the_agent_after_asking() {
    let mut agent = agent();
    let tmux = attach(&agent, "");
    tmux.keys(&["Q"]);
    tmux.wait_for("stop the agent?");
    tmux.keys(&["n"]);
    tmux.wait_for("the agent keeps running");
    assert!(agent.pid_of("sleeper").is_some());
    tmux.keys(&["Q"]);
    tmux.wait_for("stop the agent?");
    tmux.keys(&["y"]);
    let screen = tmux.wait_for("attach-exited-0");
    assert!(screen.contains("stopped"), "{screen}");
    let status = agent.child.wait().unwrap();
    assert!(status.success(), "the agent exits 0 after a shutdown: {status:?}");
    assert!(marked_pids(&agent.marker).is_empty(), "no sidecar outlives the agent");
}

/// A `bin/ssh` that runs the remote command here, the way sshd would (through a shell),
/// after checking it was called as `ssh -T -- HOST command...`.
fn ssh_stand_in(dir: &Path) -> PathBuf {
    let bin_dir = dir.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let script = bin_dir.join("ssh");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ \"$1\" = -T ] || { echo \"stand-in: want -T, got $1\" >&2; exit 255; }\n\
         [ \"$2\" = -- ] || exit 255\necho \"$3\" > \"$(dirname \"$0\")/host\"\nshift 3\nexec sh -c \"$*\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(bin(), bin_dir.join("sidetop")).unwrap();
    bin_dir
}

/// `sidetop attach SSH_ARGS --remote-socket AGENT` in tmux, `ssh` being the stand-in;
/// the tmux session and the stand-in's folder.
fn attach_through_stand_in(agent: &Agent, ssh_args: &str) -> (Tmux, PathBuf) {
    let bin_dir = ssh_stand_in(agent.dir.path());
    let tmux = Tmux::start(120, 40);
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    tmux.type_line(&format!(
        "PATH={path} sidetop attach {ssh_args} --remote-socket {}; echo attach-exited-$?",
        agent.socket.display()
    ));
    (tmux, bin_dir)
}

#[test]
fn attach_over_ssh_speaks_the_api_through_the_bridge() {
    let agent = agent();
    let (tmux, bin_dir) = attach_through_stand_in(&agent, "--ssh ops@db-1");
    let screen = tmux.wait_for("attached to agent");
    assert!(screen.contains("on ops@db-1"), "{screen}");
    tmux.wait_for("line 2");
    let before = agent.pid_of("sleeper").unwrap();
    tmux.keys(&["j", "r"]);
    wait_until(T, "the restart to reach the agent", || agent.pid_of("sleeper").is_some_and(|p| p != before));
    tmux.keys(&["q"]);
    tmux.wait_for("attach-exited-0");
    assert_eq!(std::fs::read_to_string(bin_dir.join("host")).unwrap().trim(), "ops@db-1");
    assert!(agent.pid_of("talker").is_some(), "detaching over ssh leaves the sidecars running");
}

#[test]
fn attach_over_ssh_to_several_hosts_shows_them_in_one_dashboard() {
    let agent = agent();
    // Both stand-in hosts reach the same agent; each is an engine of its own, named after
    // its host.
    let (tmux, _) = attach_through_stand_in(&agent, "--ssh db-1 --ssh db-2");
    let screen =
        tmux.wait("both hosts' sidecars", |s| s.contains("db-1/sleeper") && s.contains("db-2/sleeper"));
    assert!(screen.contains("2 engines on several hosts"), "{screen}");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("attach-exited-0");
    assert!(screen.contains("detached from 2 engines"), "{screen}");
}

#[test]
fn attach_over_ssh_says_why_it_failed() {
    let agent = agent();
    let bin_dir = ssh_stand_in(agent.dir.path());
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let out = Command::new(bin())
        .args(["attach", "--ssh", "db-1", "--remote-socket", "/nonexistent/agent.sock"])
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "no agent there: exit 3");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no sidetop agent on /nonexistent/agent.sock"),
        "the remote's reason is shown: {err}"
    );
}

/// A real sshd on 127.0.0.1, with keys made for this test; `ssh` on PATH is the real
/// client pointed at it by a config file.
pub(crate) struct Sshd {
    child: Child,
    port: u16,
    pub(crate) bin_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Sshd {
    pub(crate) fn start() -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(sshd.exists(), "a real sshd is needed: install openssh-server (.ci/run and scripts/test do)");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for key in ["host_key", "user_key"] {
            run_ok(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(d.join(key)));
        }
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
        let port = free_port();
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nPermitRootLogin prohibit-password\n",
                d = d.display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "Host test-sshd\n  HostName 127.0.0.1\n  Port {port}\n  User {}\n  IdentityFile {d}/user_key\n  \
                 IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n",
                user.trim(),
                d = d.display()
            ),
        )
        .unwrap();
        let bin_dir = d.join("bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        let wrapper = bin_dir.join("ssh");
        std::fs::write(
            &wrapper,
            format!("#!/bin/sh\nexec /usr/bin/ssh -F {}/ssh_config \"$@\"\n", d.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let child = Sshd::listen(d, port);
        Sshd { child, port, bin_dir, _dir: dir }
    }

    fn listen(dir: &Path, port: u16) -> Child {
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(dir.join("sshd_config"))
            .spawn()
            .unwrap();
        wait_until(T, "sshd to listen", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        child
    }

    /// No new connections (those made go on: each has a process of its own).
    pub(crate) fn stop_listening(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Listening again, on the same port.
    pub(crate) fn listen_again(&mut self) {
        self.child = Sshd::listen(self._dir.path(), self.port);
    }
}

/// Over a real sshd: the dashboard of the agent there; a connection that drops is made
/// again (its sidecars say `retrying` meanwhile), and `Q` stops the agent through it.
#[test]
fn attach_over_a_real_sshd() {
    let mut agent = agent();
    let mut sshd = Sshd::start();
    let tmux = Tmux::start(120, 40);
    let path = format!("{}:{}", sshd.bin_dir.display(), std::env::var("PATH").unwrap());
    tmux.type_line(&format!(
        "PATH={path} {} attach --ssh test-sshd --remote-sidetop {} --remote-socket {}; echo attach-exited-$?",
        bin(),
        bin(),
        agent.socket.display()
    ));
    let screen = tmux.wait_for("attached to agent");
    assert!(screen.contains("sleeper") && screen.contains("on test-sshd"), "{screen}");
    tmux.wait_for("line 2");

    // The connection drops while the host does not answer: the dashboard stays, says it
    // is reconnecting, and once the host answers the sidecars are live again.
    sshd.stop_listening();
    let client = format!("ssh -F {}/ssh_config", sshd.bin_dir.parent().unwrap().display());
    let _ = Command::new("pkill").args(["-f", &client]).status();
    tmux.wait("the sidecars reconnecting, after a failed try", |s| {
        s.lines().any(|l| l.contains("sleeper") && l.contains("retrying")) && s.contains("try 2")
    });
    sshd.listen_again();
    let talker = agent.pid_of("talker").unwrap();
    tmux.wait("the talker live again", |s| {
        s.lines().any(|l| l.contains("talker") && l.contains(&talker.to_string()) && !l.contains("retrying"))
    });
    let before = agent.pid_of("sleeper").unwrap();
    tmux.keys(&["j", "r"]);
    wait_until(T, "a restart over the new connection", || {
        agent.pid_of("sleeper").is_some_and(|p| p != before)
    });

    // `Q` stops the agent there; the dashboard ends instead of reconnecting.
    tmux.keys(&["Q"]);
    tmux.wait_for("stop the agent?");
    tmux.keys(&["y"]);
    let screen = tmux.wait_for("attach-exited-0");
    assert!(screen.contains("stopped"), "{screen}");
    assert!(agent.child.wait().unwrap().success());
}
