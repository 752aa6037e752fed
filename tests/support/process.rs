//! A server child process that cannot outlive the test process.
//!
//! `Drop` stops the server when a test ends or panics. But destructors do not run for statics
//! (a PostgreSQL shared by a whole test binary), nor when the test binary is killed (timeout,
//! Ctrl-C). To leave no process and no data directory behind in those cases too, every server
//! gets a tiny `sh` watchdog that polls the test process and, once it is gone, stops the server
//! and removes its directory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often readiness and exit are polled: short enough for fast tests, long enough not to
/// spin.
pub const POLL: Duration = Duration::from_millis(20);

/// Watchdog: while the test process ($1) and the server ($2) live, sleep. If the test process
/// went away first, stop the server with $4 (then SIGKILL) and remove $3 (if not empty).
const WATCHDOG: &str = r#"
while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
if ! kill -0 "$1" 2>/dev/null; then
  kill -s "$4" "$2" 2>/dev/null
  sleep 2
  kill -s KILL "$2" 2>/dev/null
  [ -n "$3" ] && rm -rf -- "$3"
fi
"#;

/// A running (or exited but not yet reaped) server process.
pub struct ServerProcess {
    name: &'static str,
    child: Child,
    watchdog: Option<Child>,
    /// Signal for a quick, clean stop on drop (`TERM` for Redis; `QUIT` — immediate shutdown —
    /// for PostgreSQL, whose `TERM` waits for clients to disconnect).
    drop_signal: &'static str,
}

impl ServerProcess {
    /// Spawns `cmd` with stdout and stderr appended to `log`, plus its watchdog, which removes
    /// `cleanup_dir` if the test process dies without dropping us.
    pub fn spawn(
        name: &'static str,
        mut cmd: Command,
        log: &Path,
        cleanup_dir: Option<&Path>,
        drop_signal: &'static str,
    ) -> io::Result<ServerProcess> {
        let out = File::options().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("spawning {cmd:?}: {e}")))?;
        let watchdog = Command::new("/bin/sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("rinha-test-watchdog")
            .arg(std::process::id().to_string())
            .arg(child.id().to_string())
            .arg(cleanup_dir.map(Path::as_os_str).unwrap_or_default())
            .arg(drop_signal)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            // Without a watchdog the server still stops on drop; only the crash case leaks.
            .ok();
        Ok(ServerProcess {
            name,
            child,
            watchdog,
            drop_signal,
        })
    }

    /// The server's pid (of the postmaster, for PostgreSQL).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the process has exited (and is reaped).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends `signal` (a name such as `TERM`) without waiting. `Child::kill` only knows SIGKILL
    /// and std has no `kill(2)`, so this goes through the shell's builtin.
    pub fn signal(&mut self, signal: &str) {
        if self.exited().is_some() {
            return;
        }
        let _ = Command::new("/bin/sh")
            .args(["-c", r#"kill -s "$1" "$2""#, "kill"])
            .arg(signal)
            .arg(self.pid().to_string())
            .stderr(Stdio::null())
            .status();
    }

    /// Sends `signal`, waits up to `grace` for the exit, then SIGKILLs. Async so that other
    /// tasks of the test (e.g. the app under test) keep running meanwhile.
    pub async fn stop(&mut self, signal: &str, grace: Duration) -> ExitStatus {
        self.signal(signal);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return status;
            }
            tokio::time::sleep(POLL).await;
        }
        self.kill()
    }

    /// SIGKILL now and reap: a crash, as far as clients can tell.
    pub fn kill(&mut self) -> ExitStatus {
        if let Some(status) = self.exited() {
            return status;
        }
        let _ = self.child.kill();
        self.child
            .wait()
            .unwrap_or_else(|e| panic!("waiting for {}: {e}", self.name))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        if self.exited().is_some() {
            return;
        }
        self.signal(self.drop_signal);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(POLL);
        }
        self.kill();
    }
}

/// The last `max` bytes of a log file, for panic messages: enough to show why a server did not
/// start without flooding the test output.
pub fn log_tail(path: &Path, max: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if text.trim().is_empty() {
        "(log is empty)".to_owned()
    } else {
        text
    }
}

/// The log from byte `offset` on: what one launch wrote, when earlier launches (restarts,
/// retries on another port) share the file.
pub fn log_since(path: &Path, offset: u64) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.seek(SeekFrom::Start(offset));
        let _ = file.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The current length of a (log) file, 0 if it does not exist yet.
pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// `name` found in a directory of `$PATH`, like the shell would.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
