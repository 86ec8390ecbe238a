//! What the runner does to its process: spawn it (with output readers, IPC and the health
//! checker), handle its exit (cleanup, restart policy), stop it gracefully, kill it.

use super::exit::ExitInfo;
use super::health::{HealthTask, ReadySignal};
use super::output::{self, RunLink};
use super::policy::{Decision, wants_restart};
use super::run::{OwnedTask, Readers, Run};
use super::sidecar::{AfterExit, Phase, Runner};
use super::status::{EventKind, Life};
use crate::os::serial_writer::StdinWriter;
use crate::supervisor::scrollback::{STDERR_QUOTED, Stream, quote_stderr};
use nix::sys::signal::Signal;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long an exit waits for the stderr reader to take in the last lines, when they are
/// needed to explain a failed handshake.
const STDERR_DRAIN: Duration = Duration::from_millis(250);

impl Runner {
    /// Binds the measuring proxy before the first spawn, or after a failed bind.
    fn open_proxy(&mut self) -> std::io::Result<()> {
        if self.proxy.is_some() {
            return Ok(());
        }
        let Some(ipc) = &self.ipc else { return Ok(()) };
        match super::proxy_link::start(ipc, self.status.subscribe(), self.output.logs.clone()) {
            Some(Ok(link)) => self.proxy = Some(link),
            Some(Err(e)) => return Err(e),
            None => {}
        }
        Ok(())
    }

    pub(super) fn spawn_now(&mut self) -> Phase {
        let first_start = {
            let s = self.status.borrow();
            s.started_at.is_none() && s.last_exit.is_none()
        };
        self.set(|s| {
            s.state = Life::Starting;
            s.next_start = None;
        });
        let spawned = match self.open_proxy().and_then(|()| self.spawner.spawn(&self.config)) {
            Ok(spawned) => spawned,
            Err(e) => {
                let error = e.to_string();
                self.set(|s| {
                    s.state = Life::Failed;
                    s.pid = None;
                    s.error = Some(error.clone());
                });
                self.events.emit(EventKind::SpawnFailed { error });
                return Phase::Idle;
            }
        };
        self.generation += 1;
        let ready = self.output.ready_log.as_ref().map(|_| Arc::new(ReadySignal::default()));
        let mut readers = Readers::default();
        let (link, connector) = match &self.wrap {
            // The application's pipes: passed through and observed, not sidetop's to use.
            Some(wrap) => {
                let pass = wrap.run_started(self.generation, spawned.stdin, spawned.stdout);
                readers.stdout = Some(OwnedTask::adopt(pass));
                (Arc::new(RunLink { conn: None, ready }), None)
            }
            None => {
                let stdin = StdinWriter::start(spawned.stdin);
                let attachment = self.ipc.as_ref().map(|ipc| ipc.attach(&stdin)).unwrap_or_default();
                let link = Arc::new(RunLink { conn: attachment.conn, ready });
                let stdout = output::pump(spawned.stdout, Stream::Stdout, self.output.clone(), link.clone());
                readers.stdout = Some(OwnedTask::spawn(stdout));
                *self.stdin.lock().unwrap_or_else(|e| e.into_inner()) = Some(stdin);
                (link, attachment.connector.map(OwnedTask::adopt))
            }
        };
        let stderr = output::pump(spawned.stderr, Stream::Stderr, self.output.clone(), link.clone());
        let wrap = self.wrap.clone();
        readers.stderr = Some(OwnedTask::spawn(async move {
            stderr.await;
            if let Some(wrap) = wrap {
                wrap.output_closed();
            }
        }));
        if let Some(ipc) = self.ipc.as_ref().filter(|_| self.wrap.is_none()) {
            readers.notes =
                Some(OwnedTask::spawn(output::drain_notes(ipc.open_notes(), self.output.clone())));
        }
        let mut run = Run::new(spawned.process, self.generation, link);
        run.readers = readers;
        run.connector = connector;
        let (pid, started) = (run.pid, run.started.into_std());
        self.set(|s| {
            s.state = Life::Running;
            s.pid = Some(pid);
            s.generation = self.generation;
            s.started_at = Some(started);
            s.error = None;
            s.ready = false;
            s.unhealthy = false;
            if !first_start {
                s.restarts += 1;
            }
        });
        self.events.emit(EventKind::Started { pid });
        // The first step is known before the health task gets to run: a process that dies
        // at once died in it, and says so (not a bare exit).
        if let Some(ipc) = self.ipc.as_ref().filter(|_| self.wrap.is_none()) {
            *run.handshake_at.lock().unwrap_or_else(|e| e.into_inner()) = super::health::first_step(ipc);
        }
        run.health = Some(OwnedTask::spawn(
            HealthTask {
                generation: self.generation,
                config: self.config.clone(),
                // A wrapped sidecar's handshake and calls are the application's; its
                // health checks go through the wrapper.
                ipc: self.ipc.clone(),
                wrapped: self.wrap.is_some(),
                status: self.status.clone(),
                events: self.events.clone(),
                ready_signal: run.link.ready.clone(),
                commands: self.self_commands.clone(),
                logs: self.output.logs.clone(),
                step: run.handshake_at.clone(),
            }
            .run(),
        ));
        Phase::Running(run)
    }

    /// The process exited in the middle of its handshake: say so, with its exit and its
    /// last stderr, which is what explains it (`ModuleNotFoundError: ...`). The stderr
    /// reader gets a moment to take in what was written just before the exit.
    pub(super) async fn report_handshake_exit(
        &self,
        run: &mut Run,
        status: &std::io::Result<std::process::ExitStatus>,
    ) {
        run.stop_health();
        let Some(step) = run.handshake_at.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        run.drain_stderr(STDERR_DRAIN).await;
        let exit = match status {
            Ok(status) => ExitInfo::from_status(*status).to_string(),
            Err(e) => e.to_string(),
        };
        let tail = self.output.logs.lock().unwrap_or_else(|e| e.into_inner()).stderr_tail(STDERR_QUOTED);
        self.events.emit(EventKind::HandshakeFailed {
            error: format!(
                "{step}: the sidecar exited ({exit}) after {}{}",
                crate::text::duration::short_duration(run.started.elapsed()),
                quote_stderr(&tail)
            ),
        });
    }

    pub(super) fn on_exit(
        &mut self,
        mut run: Run,
        status: std::io::Result<std::process::ExitStatus>,
        then: Option<AfterExit>,
    ) -> Phase {
        let exit = match status {
            Ok(status) => ExitInfo::from_status(status),
            Err(e) => {
                tracing::error!("waiting for {} (pid {}): {e}", self.events.name, run.pid);
                run.process.kill_leader();
                ExitInfo::Code(-1)
            }
        };
        // Whatever the leader left behind in its group goes with it: no orphans.
        run.process.reap_group();
        *self.stdin.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if let Some(wrap) = &self.wrap {
            wrap.detach(run.generation);
        }
        let (generation, uptime) = (run.generation, run.started.elapsed());
        // Its health checks, polite stop and connector end here, before the connection
        // closes; its readers go on to the end of its pipes.
        self.draining.add(run.end());
        if let Some(ipc) = &self.ipc {
            ipc.detach(&format!("sidecar exited ({exit}) with the request in flight"));
        }
        self.set(|s| {
            s.pid = None;
            s.last_exit = Some(exit);
            s.ready = false;
            s.unhealthy = false;
        });
        self.events.emit(EventKind::Exited { exit, uptime });

        let next = self.after_exit(exit, uptime, then);
        if let Some(wrap) = &self.wrap {
            // Another run follows: the application's requests this one left unanswered
            // are answered with an error. None follows: the wrapper ends as the child did.
            let restarting = matches!(next, Phase::Running(_) | Phase::Backoff(_) | Phase::Waiting);
            wrap.run_ended(generation, restarting);
        }
        next
    }

    fn after_exit(&mut self, exit: ExitInfo, uptime: Duration, then: Option<AfterExit>) -> Phase {
        match then {
            Some(AfterExit::Restart) => self.begin_start(),
            Some(AfterExit::Stop) | Some(AfterExit::Kill) => {
                // Event first: whoever sees the settled state finds its event recorded.
                self.events.emit(EventKind::Stopped);
                self.set(|s| s.state = Life::Stopped);
                Phase::Idle
            }
            Some(AfterExit::Unhealthy) => self.schedule_restart(uptime),
            None if wants_restart(self.config.restart, &exit) => self.schedule_restart(uptime),
            None => {
                self.set(|s| s.state = Life::Exited);
                Phase::Idle
            }
        }
    }

    /// After a crash: backoff, or give up when exits come too fast.
    fn schedule_restart(&mut self, uptime: Duration) -> Phase {
        let restart = self.status.borrow().restarts + 1;
        match self.tracker.on_exit(Instant::now().into_std(), uptime) {
            Decision::RestartIn(delay) if delay.is_zero() => {
                self.events.emit(EventKind::Restarting { delay, restart });
                self.begin_start()
            }
            Decision::RestartIn(delay) => {
                let at = Instant::now() + delay;
                self.set(|s| {
                    s.state = Life::Backoff;
                    s.next_start = Some(at.into_std());
                });
                self.events.emit(EventKind::Restarting { delay, restart });
                Phase::Backoff(at)
            }
            Decision::GiveUp { exits, window } => {
                self.events.emit(EventKind::CrashLoop { exits, window });
                self.set(|s| s.state = Life::CrashLoop);
                Phase::Idle
            }
        }
    }

    /// A graceful stop: first through the protocol when the sidecar has a way to be
    /// told (LSP `shutdown` + `exit`, MCP's closed stdin, `[sidecar.ipc] shutdown`), then
    /// the stop signal to the whole group, then SIGKILL, each after `stop_timeout`.
    pub(super) fn begin_stop(&mut self, mut run: Run, then: AfterExit) -> Phase {
        if self.wrap.is_some() {
            return self.stop_wrapped(run, then);
        }
        let polite = self.ipc.clone().filter(|ipc| ipc.config.stops_politely() && !run.signalled);
        let Some(ipc) = polite else { return self.signal_stop(run, then) };
        let timeout = self.config.stop_timeout;
        let stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut how: Vec<String> = ipc.config.shutdown.iter().map(|s| s.method.clone()).collect();
        if ipc.config.close_stdin_on_stop {
            how.push("closed its stdin".into());
        }
        // Bound to this run's connection: nothing of this stop can reach the next run.
        let conn = ipc.current();
        run.polite_stop = Some(OwnedTask::spawn(super::polite::stop(ipc, conn, stdin, timeout)));
        self.set(|s| s.state = Life::Stopping);
        self.events.emit(EventKind::StoppingPolitely {
            how: how.join(", "),
            signal: self.config.stop_signal,
            timeout,
        });
        Phase::Stopping { run, deadline: Some(Instant::now() + timeout), then }
    }

    /// A wrapped child is stopped with the application's pipes kept open: its stdin is
    /// taken from it (the application's next bytes wait for the next run). A language
    /// server is told `shutdown` and `exit` as a sidecar sidetop starts would be (the
    /// reply kept from the application); an MCP server reads end of file and exits, as a
    /// client closing its stdin would tell it; the rest get the stop signal.
    fn stop_wrapped(&mut self, mut run: Run, then: AfterExit) -> Phase {
        let Some(wrap) = self.wrap.clone() else { return self.signal_stop(run, then) };
        let ipc = self.ipc.as_ref().map(|ipc| &ipc.config).filter(|_| !run.signalled);
        let timeout = self.config.stop_timeout;
        let how = match ipc {
            Some(ipc) if !ipc.shutdown.is_empty() => {
                let telling = wrap.stop_politely(run.generation, ipc.shutdown.clone(), timeout);
                telling.map(|task| {
                    run.polite_stop = Some(OwnedTask::adopt(task));
                    ipc.shutdown.iter().map(|s| s.method.as_str()).collect::<Vec<_>>().join(", ")
                })
            }
            Some(ipc) if ipc.close_stdin_on_stop => {
                wrap.detach(run.generation);
                Some("closed its stdin".to_owned())
            }
            _ => None,
        };
        wrap.detach(run.generation);
        let Some(how) = how else { return self.signal_stop(run, then) };
        self.set(|s| s.state = Life::Stopping);
        self.events.emit(EventKind::StoppingPolitely { how, signal: self.config.stop_signal, timeout });
        Phase::Stopping { run, deadline: Some(Instant::now() + timeout), then }
    }

    /// The stop signal to the whole group; SIGKILL follows when the grace period runs out.
    fn signal_stop(&mut self, mut run: Run, then: AfterExit) -> Phase {
        let (signal, timeout) = (self.config.stop_signal, self.config.stop_timeout);
        if let Err(e) = run.process.signal_group(signal) {
            tracing::warn!("{}: sending {signal}: {e}", self.events.name);
        }
        // A stopped (SIGSTOP) group would hold the signal pending until SIGKILL.
        let _ = run.process.signal_group(Signal::SIGCONT);
        run.signalled = true;
        self.set(|s| s.state = Life::Stopping);
        self.events.emit(EventKind::Stopping { signal, timeout });
        Phase::Stopping { run, deadline: Some(Instant::now() + timeout), then }
    }

    /// A stop's grace ran out: the signal if only the protocol was tried, else SIGKILL.
    pub(super) fn stop_timed_out(&mut self, run: Run, then: AfterExit) -> Phase {
        if !run.signalled {
            return self.signal_stop(run, then);
        }
        self.kill_group(&run);
        self.events.emit(EventKind::StopTimedOut { timeout: self.config.stop_timeout });
        Phase::Stopping { run, deadline: None, then }
    }

    pub(super) fn kill_group(&self, run: &Run) {
        if let Err(e) = run.process.signal_group(Signal::SIGKILL) {
            tracing::warn!("{}: SIGKILL to group {}: {e}", self.events.name, run.pid);
        }
    }

    /// The supervisor is gone: leave nothing running.
    pub(super) async fn abandon(&mut self, phase: Phase) {
        if let Phase::Running(mut run) | Phase::Stopping { mut run, .. } = phase {
            self.kill_group(&run);
            run.stop_health();
            let _ = run.process.wait().await;
            self.draining.add(run.end());
        }
    }
}
