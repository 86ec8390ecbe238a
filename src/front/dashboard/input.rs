//! The thread that reads the terminal's keys, mouse and resizes. It can be paused, so a
//! program the dashboard hands the terminal to (`$PAGER`) gets every key.

use ratatui::crossterm::event::{self, Event};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long one wait for input lasts: the longest a pause or a stop waits for the thread.
const POLL: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Flags {
    stop: AtomicBool,
    paused: AtomicBool,
    /// Set by the thread once it has seen the pause and reads nothing.
    idle: AtomicBool,
}

pub struct Input {
    flags: Arc<Flags>,
}

impl Input {
    pub fn start(tx: mpsc::Sender<Event>) -> io::Result<Input> {
        let flags = Arc::new(Flags::default());
        let f = flags.clone();
        // Not joined: after a hangup crossterm may sit in a read that never returns; the
        // thread ends with the process.
        std::thread::Builder::new().name("input".into()).spawn(move || {
            while !f.stop.load(Ordering::Relaxed) {
                if f.paused.load(Ordering::Acquire) {
                    f.idle.store(true, Ordering::Release);
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                f.idle.store(false, Ordering::Release);
                match event::poll(POLL) {
                    Ok(true) => match event::read() {
                        Ok(ev) => {
                            if tx.blocking_send(ev).is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    },
                    Ok(false) => {}
                    Err(_) => return,
                }
            }
        })?;
        Ok(Input { flags })
    }

    /// Stops reading until `resume`; returns once the thread reads nothing.
    pub fn pause(&self) {
        self.flags.paused.store(true, Ordering::Release);
        let deadline = Instant::now() + POLL * 5;
        while !self.flags.idle.load(Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn resume(&self) {
        self.flags.paused.store(false, Ordering::Release);
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        self.flags.stop.store(true, Ordering::Relaxed);
    }
}
