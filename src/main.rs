use clap::{CommandFactory, FromArgMatches};
use sidetop::config::Config;
use sidetop::front::cli::{Cli, Command};
use sidetop::front::headless::{self, HeadlessOptions};
use std::io::IsTerminal;
use std::process::ExitCode;

/// Exit status for a config that does not load.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == sidetop::supervisor::DEATHWATCH_SUBCOMMAND) {
        sidetop::supervisor::deathwatch_main();
    }
    // A shell asking for completions gets them before anything else is printed.
    sidetop::front::completion::answer_if_asked();
    ignore_file_size_signal();
    sidetop::front::dashboard::terminal::exit_on_panic();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Completions and the manual come from the CLI definition alone.
    match &cli.command {
        Some(Command::Completions { shell }) => {
            return print_or_fail(|out| sidetop::front::completion::write_script(*shell, out));
        }
        Some(Command::Import { file }) => return import(file),
        Some(Command::Schema) => {
            return print_or_fail(|out| out.write_all(sidetop::config::schema::json().as_bytes()));
        }
        Some(Command::Man { out }) => {
            return print_or_fail(|stdout| sidetop::front::completion::write_manual(out.as_deref(), stdout));
        }
        _ => {}
    }
    // `wrap` stands in for the application's sidecar: its own config handling, and the
    // exit of its child.
    if let Some(Command::Wrap(args)) = &cli.command {
        let given = matches
            .subcommand_matches("wrap")
            .and_then(|m| m.value_source("config"))
            .is_some_and(|source| source == clap::parser::ValueSource::CommandLine);
        sidetop::front::wrap::main(sidetop::front::wrap::WrapOptions {
            args,
            config_file: given.then_some(cli.config.as_path()),
            log_dir: cli.log_dir.as_deref(),
            record: cli.record.clone(),
            metrics: cli.metrics,
            sample_interval: cli.sample_interval,
        });
    }
    // A recording that cannot be written is refused before anything starts (and where no
    // sidecar runs, there is nothing to record).
    if let Some(path) = &cli.record {
        let runs_engine = matches!(cli.command, None | Some(Command::Agent(_)) | Some(Command::Wrap(_)));
        if !runs_engine {
            eprintln!(
                "error: --record applies where sidecars run (dashboard, --headless, agent); use `sidetop ctl record` for a running one"
            );
            return ExitCode::from(EXIT_CONFIG);
        }
        if let Err(e) = sidetop::os::rotate::open_append(path) {
            eprintln!("error: cannot record to {}: {e}", path.display());
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    // `ctl` talks to a running sidetop: it needs no valid config, only the socket.
    if let Some(Command::Ctl(args)) = &cli.command {
        // `ctl logs | head` closes the pipe: end quietly as other Unix tools do, instead
        // of panicking on the next print (Rust ignores SIGPIPE by default).
        // SAFETY: no other thread exists yet to race on the signal disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        let code = runtime.block_on(sidetop::front::ctl::run(&cli.config, args));
        // Not waiting on stdin's blocking read: `ctl bridge` ends when its engine's
        // connection does, whether or not the other side closed stdin.
        runtime.shutdown_timeout(std::time::Duration::from_millis(200));
        return code;
    }
    // `attach` needs no config either: the agent has it.
    if let Some(Command::Attach(args)) = &cli.command {
        let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        let log_dir = sidetop::front::selflog::log_dir(cli.log_dir.as_deref());
        let _log_guard = sidetop::front::selflog::init(&log_dir).ok();
        let code = runtime.block_on(sidetop::front::attach::run(&cli.config, args));
        runtime.shutdown_timeout(std::time::Duration::from_millis(200));
        return code;
    }
    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {}", e.render());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Some(Command::Check) = cli.command {
        print!("{}", sidetop::front::check::listing(&config));
        return ExitCode::SUCCESS;
    }
    // `request` checks its arguments before anything is started.
    if let Some(Command::Request(args)) = &cli.command
        && let Some(sidecar) = config.sidecar(&args.sidecar)
        && let Err(e) = sidetop::api::request::build_spec(sidecar, &args.fields())
    {
        eprintln!("error: {e}");
        return ExitCode::from(sidetop::front::exit_codes::EXIT_USAGE);
    }

    // Before the first thread (logging's writer, the runtime): the death-watch helper is
    // forked now, which costs far less memory than exec'ing it later.
    if let Err(e) = sidetop::supervisor::prefork_death_watch() {
        eprintln!("warning: cannot fork the death-watch helper now ({e}); it will be started later");
    }
    let log_dir = sidetop::front::selflog::log_dir(cli.log_dir.as_deref());
    let _log_guard = match sidetop::front::selflog::init(&log_dir) {
        Ok(guard) => Some(guard),
        Err(e) => {
            eprintln!("warning: cannot write sidetop's log in {}: {e}", log_dir.display());
            None
        }
    };
    tracing::info!("sidetop {} starting with {}", env!("CARGO_PKG_VERSION"), cli.config.display());

    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // For the tests of the panic policy only: a task that panics after this long.
    if let Some(ms) = std::env::var("SIDETOP_TEST_PANIC_IN_TASK_AFTER_MS").ok().and_then(|v| v.parse().ok()) {
        runtime.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            panic!("panic in a task requested by SIDETOP_TEST_PANIC_IN_TASK_AFTER_MS");
        });
    }
    if let Some(Command::Request(args)) = &cli.command {
        return runtime.block_on(sidetop::front::request::run(&config, args));
    }
    if let Some(Command::Replay(args)) = &cli.command {
        let code = runtime.block_on(sidetop::front::replay::run(&config, args));
        runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        return code;
    }
    if let Some(Command::Screenshots { out }) = &cli.command {
        return match runtime.block_on(sidetop::front::screenshots::run(&config, out)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let metrics = cli.metrics.or(config.metrics);
    let result = if let Some(Command::Agent(args)) = &cli.command {
        let socket =
            args.socket.clone().unwrap_or_else(|| sidetop::api::socket_path::agent_socket(&cli.config));
        let agent = headless::AgentOptions { socket, read_only: args.read_only };
        runtime.block_on(headless::run(
            &config,
            HeadlessOptions {
                exit_when_done: false,
                agent: Some(agent),
                sample_interval: cli.sample_interval,
                metrics,
                record: cli.record.clone(),
            },
        ))
    } else if cli.headless {
        runtime.block_on(headless::run(
            &config,
            HeadlessOptions {
                exit_when_done: cli.exit_when_done,
                agent: None,
                sample_interval: cli.sample_interval,
                metrics,
                record: cli.record.clone(),
            },
        ))
    } else if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        eprintln!("sidetop: not a terminal, running headless (--headless says so explicitly)");
        runtime.block_on(headless::run(
            &config,
            HeadlessOptions {
                exit_when_done: false,
                agent: None,
                sample_interval: cli.sample_interval,
                metrics,
                record: cli.record.clone(),
            },
        ))
    } else {
        let options = sidetop::front::dashboard::RunOptions {
            sample_interval: cli.sample_interval,
            metrics,
            record: cli.record.clone(),
        };
        runtime.block_on(sidetop::front::dashboard::run(&config, options))
    };
    // Leave no task or thread behind holding a sidecar.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A log file past `RLIMIT_FSIZE` must fail its write with EFBIG (an event, retried), not
/// kill sidetop. A handler rather than SIG_IGN: handlers are reset at exec, so sidecars
/// keep the default.
fn ignore_file_size_signal() {
    extern "C" fn nothing(_: libc::c_int) {}
    // SAFETY: installs a handler that does nothing (async-signal-safe).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = nothing as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGXFSZ, &action, std::ptr::null_mut());
    }
}

/// Writes generated text to stdout; a write error (a closed pipe) is reported, not a panic.
fn print_or_fail(write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match write(&mut out).and_then(|()| std::io::Write::flush(&mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `sidetop import FILE`: the TOML on stdout, what did not map exactly on stderr.
fn import(file: &std::path::Path) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let Some(format) = sidetop::config::import::detect(file, &text) else {
        eprintln!(
            "error: {} is not a file sidetop imports (a Procfile, mprocs.yaml, process-compose.yaml, supervisord.conf or a pm2 ecosystem file)",
            file.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    match sidetop::config::import::convert(file, &text, format) {
        Ok(imported) => {
            for warning in &imported.warnings {
                eprintln!("warning: {warning}");
            }
            print_or_fail(|out| out.write_all(imported.toml.as_bytes()))
        }
        Err(e) => {
            eprintln!("error: {}", e.render());
            ExitCode::from(EXIT_CONFIG)
        }
    }
}
