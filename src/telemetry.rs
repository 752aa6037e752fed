//! Logging: journald when systemd started us, plain stderr everywhere else; and the panic hook.

use std::any::Any;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::ProcessEnv;

/// Installs the global subscriber and the panic hook. Falls back to stderr when the journal
/// socket is missing (containers, plain shells): logging must never stop the service from
/// starting.
pub fn init(process: &ProcessEnv) {
    install_panic_hook();
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

/// Replaces the default panic hook with one line in the log: message, place and thread.
///
/// Why not the default: with `RUST_BACKTRACE=1` (the native runner sets it) it symbolizes a
/// backtrace on the panicking thread, parsing the binary's line tables: about 90 MB resident
/// for `rinha`, three times an API's 30 MiB cap. Measured on the old percent-decoder panic: the
/// process was OOM-killed under a 30 MiB memory cgroup, or thrashed there (the hang seen on
/// `make up`), and on the current-thread runtime that hook runs on the only thread, so every
/// other connection waits with it. The place of the panic is enough to find it.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        let message = panic_message(info.payload());
        tracing::error!(location, thread, "panic: {message}");
        // Before the subscriber exists (or if it is gone), the log line would be lost.
        if !tracing::dispatcher::has_been_set() {
            eprintln!("panic at {location} on thread {thread}: {message}");
        }
    }));
}

/// The text of a panic payload (`panic!` with a literal or a format string), or a placeholder.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic payload that is not text)")
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// A sink that blocks every write until the test ends: stderr piped to a reader that
    /// stopped reading, or a journal stalled during an outage.
    struct Stuck(mpsc::Receiver<()>);

    impl Write for Stuck {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.recv();
            Err(std::io::Error::other("closed"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_log_sink_drops_lines_instead_of_blocking_the_caller() {
        let (release, stuck) = mpsc::channel();
        let (writer, _guard) = NonBlocking::new(Stuck(stuck), 16);
        let started = Instant::now();
        for i in 0..1_000 {
            let mut line = writer.make_writer();
            writeln!(line, "line {i}").unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "logging blocked for {:?}",
            started.elapsed()
        );
        assert!(writer.dropped() >= 1_000 - 16 - 1, "{}", writer.dropped());
        drop(release);
    }
}
