//! A real terminal for end-to-end tests: a tmux session, keys sent with send-keys, the
//! screen read back with capture-pane.

use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    pub session: String,
}

impl Tmux {
    pub fn start(width: u16, height: u16) -> Tmux {
        let session = format!("sidetop-test-{}", super::marker());
        // The tmux server exits with its last session: a test starting one just then can
        // reach a server on its way out ("server exited unexpectedly"); a new try starts
        // a new server.
        let started = (0..5).any(|attempt| {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Command::new("tmux")
                .args([
                    "new-session",
                    "-d",
                    "-s",
                    &session,
                    "-x",
                    &width.to_string(),
                    "-y",
                    &height.to_string(),
                ])
                .args(["env", "PS1=$ ", "TERM=xterm-256color", "sh"])
                .status()
                .expect("tmux is installed (.ci/run installs it)")
                .success()
        });
        assert!(started, "tmux new-session failed 5 times");
        Tmux { session }
    }

    pub fn keys(&self, keys: &[&str]) {
        let status =
            Command::new("tmux").args(["send-keys", "-t", &self.session]).args(keys).status().unwrap();
        assert!(status.success());
    }

    pub fn type_line(&self, text: &str) {
        self.keys(&["-l", text]);
        self.keys(&["Enter"]);
    }

    pub fn pane_title(&self) -> String {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.session, "#{pane_title}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux").args(["capture-pane", "-p", "-t", &self.session]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `check`; returns that screen.
    pub fn wait(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_for(&self, needle: &str) -> String {
        self.wait(needle, |s| s.contains(needle))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.session]).status();
    }
}
