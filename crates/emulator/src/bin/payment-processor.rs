//! `payment-processor`: the Rinha de Backend 2025 payment-processor emulator as a process.
//!
//! ```text
//! payment-processor [--listen ADDR] [--fee DECIMAL] [--token T]
//! ```
//! Defaults: `--listen 127.0.0.1:8001 --fee 0.05 --token 123`. Logs one `ready` line with the
//! address to stderr once it accepts connections; SIGTERM or SIGINT stop it with exit code 0.

use std::process::ExitCode;

use rinha_emulator::{self as emulator, EmulatorConfig, Fee};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

const USAGE: &str = "usage: payment-processor [--listen ADDR] [--fee DECIMAL] [--token T]";

/// The command line, parsed.
struct Args {
    listen: String,
    fee: Fee,
    token: String,
}

/// Parses `--name value` and `--name=value` options; `Err` carries the message to print.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        listen: "127.0.0.1:8001".to_owned(),
        fee: Fee::default(),
        token: "123".to_owned(),
    };
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Err(USAGE.to_owned());
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))?;
        match name.as_str() {
            "--listen" => parsed.listen = value,
            "--fee" => parsed.fee = value.parse().map_err(|e| format!("--fee: {e}"))?,
            "--token" => parsed.token = value,
            _ => return Err(format!("unknown option {name}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(&args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("payment-processor: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => (term, int),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("payment-processor: cannot handle signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    let addr = listener
        .local_addr()
        .map_or(args.listen.clone(), |a| a.to_string());
    eprintln!("payment-processor ready listen={addr} fee={}", args.fee);
    let config = EmulatorConfig {
        fee: args.fee,
        token: args.token,
        ..EmulatorConfig::default()
    };
    match emulator::serve(listener, config, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("payment-processor: {e}");
            ExitCode::FAILURE
        }
    }
}
