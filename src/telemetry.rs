//! Logging: journald when systemd started us, plain stderr everywhere else (written by a thread
//! of its own, never by the runtime); and the panic hook.

use std::any::Any;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::ProcessEnv;

/// How many log lines may wait for stderr before new ones are dropped (and counted).
const LOG_BUFFER_LINES: usize = 4096;

/// Installs the global subscriber and the panic hook. Falls back to stderr when the journal
/// socket is missing (containers, plain shells): logging must never stop the service from
/// starting. Keep the guard until exit: dropping it flushes the lines still queued for stderr.
#[must_use = "dropping the guard flushes the log; keep it until exit"]
pub fn init(process: &ProcessEnv) -> Option<LogGuard> {
    install_panic_hook();
    let filter = EnvFilter::try_new(process.rust_log.as_deref().unwrap_or("info"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    if process.under_systemd {
        match tracing_journald::layer() {
            Ok(journald) => {
                let _ = registry.with(journald).try_init();
                return None;
            }
            Err(err) => eprintln!("journald unavailable ({err}); logging to stderr"),
        }
    }
    // Written by a thread of its own: during an outage every task logs its retries, and a
    // stderr that cannot keep up (a full pipe, a slow terminal, a stalled collector) would
    // otherwise block the runtime's threads in `write`.
    let (writer, guard) = NonBlocking::new(std::io::stderr(), LOG_BUFFER_LINES);
    let _ = registry
        .with(tracing_subscriber::fmt::layer().with_writer(writer))
        .try_init();
    Some(guard)
}

/// A log writer that never blocks its caller: each line goes through a bounded queue to a thread
/// that writes it to the sink; when the queue is full the line is dropped, and the thread says
/// how many it lost before its next line.
#[derive(Clone)]
pub struct NonBlocking {
    tx: SyncSender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
}

/// Flushes the lines still queued (for at most a second) when dropped.
pub struct LogGuard {
    tx: SyncSender<Vec<u8>>,
    flushed: Receiver<()>,
}

impl NonBlocking {
    /// Starts the writing thread on `sink`, with room for `capacity` queued lines.
    pub fn new<W: Write + Send + 'static>(mut sink: W, capacity: usize) -> (Self, LogGuard) {
        let (tx, rx) = sync_channel::<Vec<u8>>(capacity);
        let (ack, flushed) = channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let lost = dropped.clone();
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                let mut reported = 0;
                for line in rx {
                    // An empty line is the guard's flush request: a log line never is empty.
                    if line.is_empty() {
                        let _ = sink.flush();
                        let _ = ack.send(());
                        continue;
                    }
                    let now_lost = lost.load(Ordering::Relaxed);
                    if now_lost > reported {
                        let _ = writeln!(
                            sink,
                            "({} log lines dropped: the log sink was too slow)",
                            now_lost - reported
                        );
                        reported = now_lost;
                    }
                    let _ = sink.write_all(&line);
                }
            })
            .expect("the log writer thread starts");
        let guard = LogGuard {
            tx: tx.clone(),
            flushed,
        };
        (Self { tx, dropped }, guard)
    }

    /// Lines dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// One log line being written; queued whole when dropped.
pub struct Line<'a> {
    buf: Vec<u8>,
    owner: &'a NonBlocking,
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line {
            buf: Vec::with_capacity(256),
            owner: self,
        }
    }
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        if self
            .owner
            .tx
            .try_send(std::mem::take(&mut self.buf))
            .is_err()
        {
            self.owner.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if self.tx.try_send(Vec::new()).is_ok() {
            let _ = self.flushed.recv_timeout(Duration::from_secs(1));
        }
    }
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
    use std::sync::mpsc;
    use std::time::Instant;

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
