//! `rinha <api|worker|all|migrate>`: loads settings, starts telemetry, runs the role.

use std::process::ExitCode;

use rinha::config::Settings;
use rinha::startup::{self, Role};
use rinha::watchdog::Watchdog;

const USAGE: &str =
    "usage: rinha <api|worker|all|migrate>  (settings: RINHA_* env, RINHA_CONFIG=file.toml)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let role = match args.as_slice() {
        [role] => Role::parse(role),
        _ => None,
    };
    let Some(role) = role else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(err) => {
            eprintln!("rinha: {err}");
            return ExitCode::from(2);
        }
    };
    let _log = rinha::telemetry::init(&settings.process);
    let threads = settings
        .runtime_threads
        .unwrap_or(if role == Role::All { 2 } else { 1 });
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    if let Some(timeout) = settings.watchdog
        && let Err(err) = Watchdog::start(runtime.handle(), timeout, rinha::watchdog::abort_process)
    {
        eprintln!("rinha: cannot start the watchdog: {err}");
        return ExitCode::FAILURE;
    }
    match runtime.block_on(startup::run(role, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(%err, "rinha failed");
            eprintln!("rinha: {err}");
            ExitCode::FAILURE
        }
    }
}
