//! `TestRedis`: a real `redis-server` on a free loopback port, in its own temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::ports::free_port;
use super::process::{POLL, ServerProcess, file_len, find_on_path, log_since, log_tail};

/// How long a fresh `redis-server` may take to answer PING. It usually takes a few ms; the
/// margin is for a loaded CI machine running many tests at once.
const READY_WITHIN: Duration = Duration::from_secs(15);

/// Bind attempts on fresh ports before giving up (another process may win a port race).
const BIND_ATTEMPTS: usize = 5;

/// A `redis-server` owned by one test. Killed when dropped.
///
/// By default it persists nothing (`--save '' --appendonly no`): tests want a clean, fast
/// server. A test about durability passes its own options to [`TestRedis::start_with`], e.g.
/// `["--appendonly", "yes", "--appendfsync", "always"]`; the directory survives restarts.
pub struct TestRedis {
    // Field order matters: the process must stop before its directory is removed.
    process: Option<ServerProcess>,
    port: u16,
    extra_args: Vec<String>,
    log: PathBuf,
    dir: TempDir,
}

impl TestRedis {
    /// Starts a server with the default test options and waits until it answers PING.
    ///
    /// Panics with the server's log if it does not come up.
    pub async fn start() -> TestRedis {
        TestRedis::start_with::<&str>(&[]).await
    }

    /// Like [`TestRedis::start`], with extra `redis-server` arguments appended (later
    /// arguments override earlier ones, so these win over the defaults).
    pub async fn start_with<S: AsRef<str>>(extra_args: &[S]) -> TestRedis {
        let dir = tempfile::Builder::new()
            .prefix("rinha-redis-")
            .tempdir()
            .expect("creating a temp dir for redis");
        let log = dir.path().join("redis.log");
        let mut redis = TestRedis {
            process: None,
            port: 0,
            extra_args: extra_args.iter().map(|a| a.as_ref().to_owned()).collect(),
            log,
            dir,
        };
        for attempt in 1..=BIND_ATTEMPTS {
            redis.port = free_port();
            match redis.launch().await {
                Ok(()) => return redis,
                Err(Failure::PortTaken) if attempt < BIND_ATTEMPTS => continue,
                Err(failure) => redis.fail(failure),
            }
        }
        unreachable!("the last attempt either returns or panics")
    }

    /// `redis://127.0.0.1:PORT`, for the app's `redis_url` and for clients.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The TCP port, stable across [`TestRedis::restart`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's working directory (`--dir`): where an AOF or RDB file would be.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the server (including earlier incarnations, across restarts) has logged.
    pub fn log(&self) -> String {
        log_tail(&self.log, u64::MAX)
    }

    /// Whether the server process is still alive.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(|p| p.exited().is_none())
    }

    /// Graceful stop (SIGTERM, then SIGKILL after 5 s): "Redis is down" for the app. Idempotent.
    pub async fn stop(&mut self) -> Option<ExitStatus> {
        let mut process = self.process.take()?;
        Some(process.stop("TERM", Duration::from_secs(5)).await)
    }

    /// SIGKILL: Redis crashes, with no chance to flush anything. Idempotent.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        Some(self.process.take()?.kill())
    }

    /// SIGSTOP: the server is alive but answers nothing (connections stay open) until
    /// [`TestRedis::resume`]: "Redis is stuck" for the app.
    pub fn pause(&mut self) {
        if let Some(p) = self.process.as_mut() {
            p.signal("STOP");
        }
    }

    /// SIGCONT after [`TestRedis::pause`]: it goes on with whatever it had received.
    pub fn resume(&mut self) {
        if let Some(p) = self.process.as_mut() {
            p.signal("CONT");
        }
    }

    /// Stops the server if it is running, starts it again on the same port and directory, and
    /// waits until it answers PING. The port cannot have been handed to another test of this
    /// process meanwhile (see `ports`); with the default options the data is gone.
    pub async fn restart(&mut self) {
        self.stop().await;
        if let Err(failure) = self.launch().await {
            self.fail(failure);
        }
    }

    async fn launch(&mut self) -> Result<(), Failure> {
        let mut cmd = Command::new(redis_bin());
        cmd.arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra_args)
            .current_dir(self.dir.path());
        let log_start = file_len(&self.log);
        let mut process = ServerProcess::spawn(
            "redis-server",
            cmd,
            &self.log,
            Some(self.dir.path()),
            "TERM",
        )
        .map_err(|e| Failure::Spawn(e.to_string()))?;
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = process.exited() {
                return Err(
                    if log_since(&self.log, log_start).contains("Address already in use") {
                        Failure::PortTaken
                    } else {
                        Failure::Exited(status)
                    },
                );
            }
            // Only trust a PONG while our own process is alive: a PONG from a stranger on the
            // same port would make tests pass against the wrong server.
            if ping(self.port).await && process.exited().is_none() {
                self.process = Some(process);
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Failure::NotReady);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn fail(&self, failure: Failure) -> ! {
        panic!(
            "redis-server ({}) on 127.0.0.1:{} did not start: {failure:?}\n--- {} ---\n{}",
            redis_bin().display(),
            self.port,
            self.log.display(),
            log_tail(&self.log, 8192),
        )
    }
}

#[derive(Debug)]
enum Failure {
    Spawn(String),
    PortTaken,
    Exited(ExitStatus),
    NotReady,
}

/// One raw RESP `PING`: no client library involved in deciding readiness.
async fn ping(port: u16) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).await?;
        Ok::<bool, std::io::Error>(&reply == b"+PONG\r\n")
    };
    // A half-open socket must not stall the poll loop past its deadline.
    matches!(
        tokio::time::timeout(Duration::from_secs(1), attempt).await,
        Ok(Ok(true))
    )
}

/// The `redis-server` binary: `RINHA_REDIS_BIN`, else the one on PATH.
///
/// Panics with a hint if neither exists, since no Redis test can run without it.
pub fn redis_bin() -> PathBuf {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("RINHA_REDIS_BIN") {
        Some(bin) => Some(PathBuf::from(bin)).filter(|p| p.is_file()),
        None => find_on_path("redis-server"),
    })
    .clone()
    .unwrap_or_else(|| {
        panic!(
            "redis-server not found: set RINHA_REDIS_BIN (currently {:?}) or put redis-server \
             on PATH; tests/tools/install-deps.sh installs it and writes target/tools/env.sh",
            std::env::var_os("RINHA_REDIS_BIN")
        )
    })
}
