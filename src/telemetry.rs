//! Logging: journald when systemd started us, plain stderr everywhere else.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::ProcessEnv;

/// Installs the global subscriber. Falls back to stderr when the journal socket is missing
/// (containers, plain shells): logging must never stop the service from starting.
pub fn init(process: &ProcessEnv) {
    let filter = EnvFilter::try_new(process.rust_log.as_deref().unwrap_or("info"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    if process.under_systemd {
        match tracing_journald::layer() {
            Ok(journald) => {
                let _ = registry.with(journald).try_init();
                return;
            }
            Err(err) => eprintln!("journald unavailable ({err}); logging to stderr"),
        }
    }
    let _ = registry
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .try_init();
}
