//! `TestPostgres`: a real PostgreSQL 17 on a free loopback port, in its own temporary directory.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::sync::OnceCell;
use tokio_postgres::{Client, NoTls};

use super::ports::free_port;
use super::privilege::{ServerUser, ensure_unprivileged_can_reach};
use super::process::{POLL, ServerProcess, file_len, find_on_path, log_since, log_tail};

/// The major version every deployment runs; tests must not pass against another one.
const MAJOR: &str = "17";

/// The superuser `initdb` creates and the database the app uses, as in the deployments.
const USER: &str = "rinha";
const DATABASE: &str = "rinha";

/// Startup usually takes well under a second after `initdb`; the margin is for a loaded CI
/// machine where many test binaries start servers at once.
const READY_WITHIN: Duration = Duration::from_secs(30);

const BIND_ATTEMPTS: usize = 5;

/// Environment variables that would make `initdb`/`postgres` or our client silently use
/// something other than what we pass explicitly.
const PG_ENV: &[&str] = &[
    "PGDATA",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGOPTIONS",
];

/// A PostgreSQL 17 server with a `rinha` superuser (trust auth) and a `rinha` database.
/// Stopped (immediate shutdown) and its directory removed when dropped.
///
/// Durability is switched off (`fsync`, `synchronous_commit`, `full_page_writes`): these are
/// test-speed settings that change no query result, and they never leave this module.
///
/// Start one per test with [`TestPostgres::start`] (about a second, mostly `initdb`), or share
/// one per test binary with [`TestPostgres::shared`] and give each test its own database with
/// [`TestPostgres::fresh_database`].
pub struct TestPostgres {
    // Field order matters: the server must stop before its directory is removed.
    process: ServerProcess,
    port: u16,
    log: PathBuf,
    dir: TempDir,
}

impl TestPostgres {
    /// `initdb`s a fresh cluster, starts it and creates the `rinha` database.
    ///
    /// Panics with a message naming the cause (binaries not found or not 17.x, a directory the
    /// unprivileged server user cannot reach) or with the server's log if it does not start.
    pub async fn start() -> TestPostgres {
        let bindir = pg_bindir();
        let user = ServerUser::for_servers();
        let dir = tempfile::Builder::new()
            .prefix("rinha-pg-")
            .tempdir()
            .expect("creating a temp dir for postgres");
        let sockets = dir.path().join("sock");
        std::fs::create_dir(&sockets).expect("creating the socket dir");
        if let Some(user) = user {
            // initdb (as the server user) creates `data` in here and postgres writes its pid file and
            // socket: hand the directory to the server user.
            for path in [dir.path(), &sockets] {
                std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                    .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
            }
            if let Err(why) = ensure_unprivileged_can_reach(dir.path()) {
                panic!("cannot run PostgreSQL for tests (check TMPDIR): {why}");
            }
        }
        let log = dir.path().join("postgres.log");
        initdb(&bindir, dir.path(), user).await;

        for attempt in 1..=BIND_ATTEMPTS {
            let port = free_port();
            let mut cmd = server_command(&bindir.join("postgres"), dir.path(), user);
            cmd.arg("-D")
                .arg(dir.path().join("data"))
                .arg("-p")
                .arg(port.to_string())
                .arg("-k")
                .arg(&sockets)
                .args(["-c", "listen_addresses=127.0.0.1"])
                .args(["-c", "fsync=off"])
                .args(["-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off"]);
            let log_start = file_len(&log);
            let mut process = ServerProcess::spawn("postgres", cmd, &log, Some(dir.path()), "QUIT")
                .unwrap_or_else(|e| panic!("{e}"));
            let deadline = Instant::now() + READY_WITHIN;
            let admin = loop {
                if let Some(status) = process.exited() {
                    let this_launch = log_since(&log, log_start);
                    if this_launch.contains("Address already in use") && attempt < BIND_ATTEMPTS {
                        break None;
                    }
                    panic!(
                        "postgres exited during startup ({status}) on port {port}\n--- {} ---\n{}",
                        log.display(),
                        log_tail(&log, 8192)
                    );
                }
                if let Ok(client) = try_connect(&url(port, "postgres")).await {
                    // As for Redis: only our own live process counts as ready.
                    if process.exited().is_none() {
                        break Some(client);
                    }
                }
                if Instant::now() >= deadline {
                    panic!(
                        "postgres on port {port} did not accept connections within {:?}\n--- {} ---\n{}",
                        READY_WITHIN,
                        log.display(),
                        log_tail(&log, 8192)
                    );
                }
                tokio::time::sleep(POLL).await;
            };
            let Some(admin) = admin else { continue };
            admin
                .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
                .await
                .unwrap_or_else(|e| panic!("CREATE DATABASE {DATABASE}: {e}"));
            return TestPostgres {
                process,
                port,
                log,
                dir,
            };
        }
        unreachable!("the last attempt either returns or panics")
    }

    /// One server for the whole test binary, started by the first test that asks.
    ///
    /// Statics are never dropped, so this server is stopped (and its directory removed) by its
    /// watchdog within ~3 s after the test binary exits. Tests sharing it should each use
    /// [`TestPostgres::fresh_database`] rather than the `rinha` database.
    pub async fn shared() -> &'static TestPostgres {
        static SHARED: OnceCell<TestPostgres> = OnceCell::const_new();
        SHARED.get_or_init(TestPostgres::start).await
    }

    /// `postgres://rinha@127.0.0.1:PORT/rinha`, for the app's `postgres_url`.
    pub fn url(&self) -> String {
        url(self.port, DATABASE)
    }

    /// The URL of another database on this server.
    pub fn url_for(&self, database: &str) -> String {
        url(self.port, database)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the server's unix socket (`host=<dir>` in tokio-postgres syntax), for
    /// tests of the socket configuration the native stack uses.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// The server's pid, e.g. for tests that kill it.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        log_tail(&self.log, u64::MAX)
    }

    /// Creates a new empty database and returns its URL, so tests sharing one server cannot
    /// see each other's rows. Names are unique within this server's (= this process's) life.
    pub async fn fresh_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let name = format!("test_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        // Created from template0 rather than template1 so a test that connects to template1
        // cannot make concurrent CREATE DATABASE calls fail ("source database is being
        // accessed by other users").
        self.connect("postgres")
            .await
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        self.url_for(&name)
    }

    /// A client connected to `database` as `rinha`; its connection task runs on the current
    /// tokio runtime.
    pub async fn connect(&self, database: &str) -> Client {
        try_connect(&self.url_for(database))
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url_for(database)))
    }
}

fn url(port: u16, database: &str) -> String {
    format!("postgres://{USER}@127.0.0.1:{port}/{database}")
}

async fn try_connect(url: &str) -> Result<Client, String> {
    let connecting = tokio_postgres::connect(url, NoTls);
    let (client, connection) = tokio::time::timeout(Duration::from_secs(2), connecting)
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        // Ends when the client is dropped or the server goes away; either is fine in tests.
        let _ = connection.await;
    });
    Ok(client)
}

/// A command for a PostgreSQL binary that runs as `user` (when we are root) in `cwd`, with no
/// `PG*` environment leaking in.
fn server_command(program: &Path, cwd: &Path, user: Option<ServerUser>) -> Command {
    let mut cmd = Command::new(program);
    // The server user may not be able to read the test's working directory (e.g. /root/…).
    cmd.current_dir(cwd);
    for var in PG_ENV {
        cmd.env_remove(var);
    }
    if let Some(user) = user {
        // std also drops supplementary groups (setgroups(0)) when it changes the uid as root.
        cmd.uid(user.uid).gid(user.gid);
    }
    cmd
}

/// `initdb` into `<dir>/data`. Blocking work, so it runs on the blocking pool and the test's
/// other tasks keep going.
async fn initdb(bindir: &Path, dir: &Path, user: Option<ServerUser>) {
    let mut cmd = server_command(&bindir.join("initdb"), dir, user);
    cmd.arg("-D")
        .arg(dir.join("data"))
        .args(["-A", "trust", "-U", USER, "--no-sync", "-E", "UTF8"])
        // A fixed locale: the test machine's LANG may name a locale that is not installed.
        .arg("--locale=C");
    let shown = format!("{cmd:?}");
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("initdb task panicked")
        .unwrap_or_else(|e| panic!("running {shown}: {e}"));
    if !output.status.success() {
        panic!(
            "initdb failed ({}): {shown}\n{}",
            output.status,
            both(&output)
        );
    }
}

fn both(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The directory of the PostgreSQL 17 binaries the tests use, checked once per test binary.
///
/// Candidates in order: `RINHA_PG_BINDIR` (if set, the only one), `pg_config --bindir`,
/// `/usr/lib/postgresql/17/bin`, the directory of `postgres` on PATH. The first whose
/// `postgres --version` is 17.x wins. When tests run as root the directory must also be
/// reachable, and `postgres` runnable, by the unprivileged server user.
///
/// Panics with the reason (and a pointer to `RINHA_PG_BINDIR`) if there is no usable one.
pub fn pg_bindir() -> PathBuf {
    static BINDIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINDIR
        .get_or_init(find_pg_bindir)
        .clone()
        .unwrap_or_else(|why| panic!("{why}"))
}

fn find_pg_bindir() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match std::env::var_os("RINHA_PG_BINDIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => {
            let from_pg_config = Command::new("pg_config")
                .arg("--bindir")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
            let on_path = find_on_path("postgres").and_then(|p| p.parent().map(Path::to_path_buf));
            from_pg_config
                .into_iter()
                .chain([PathBuf::from("/usr/lib/postgresql/17/bin")])
                .chain(on_path)
                .collect()
        }
    };
    let mut seen = Vec::new();
    for dir in &candidates {
        let postgres = dir.join("postgres");
        if !postgres.is_file() {
            seen.push(format!("{}: no postgres binary", dir.display()));
            continue;
        }
        match version(&postgres, None) {
            Ok(v) if v.split('.').next() == Some(MAJOR) => return check_runnable(dir),
            Ok(v) => seen.push(format!("{}: PostgreSQL {v}", dir.display())),
            Err(e) => seen.push(format!("{}: {e}", dir.display())),
        }
    }
    Err(format!(
        "no PostgreSQL {MAJOR}.x for the tests. Set RINHA_PG_BINDIR to the bin directory of a \
         PostgreSQL {MAJOR} (tests/tools/install-deps.sh installs one and writes \
         target/tools/env.sh). Looked at:\n  {}",
        seen.join("\n  ")
    ))
}

/// When root, the chosen binaries must work for the unprivileged server user too.
fn check_runnable(dir: &Path) -> Result<PathBuf, String> {
    let user = ServerUser::for_servers();
    if user.is_some() {
        ensure_unprivileged_can_reach(dir)
            .map_err(|why| format!("RINHA_PG_BINDIR / PostgreSQL binaries: {why}"))?;
        version(&dir.join("postgres"), user).map_err(|e| {
            format!(
                "{}/postgres does not run as the unprivileged server user: {e}",
                dir.display()
            )
        })?;
    }
    Ok(dir.to_path_buf())
}

/// `17.10` from `postgres (PostgreSQL) 17.10 (Debian 17.10-1.pgdg120+1)`.
fn version(postgres: &Path, user: Option<ServerUser>) -> Result<String, String> {
    let cwd = std::env::temp_dir();
    let output = server_command(postgres, &cwd, user)
        .arg("--version")
        .output()
        .map_err(|e| e.to_string())?;
    let text = both(&output);
    if !output.status.success() {
        return Err(format!(
            "`postgres --version` failed ({}): {}",
            output.status,
            text.trim()
        ));
    }
    text.split("(PostgreSQL)")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .ok_or_else(|| format!("unexpected `postgres --version` output: {}", text.trim()))
}
