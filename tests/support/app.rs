//! `spawn_stack()`: the whole service on loopback for integration tests — a real Redis, a fresh
//! and migrated PostgreSQL database, two processor emulators (fees 0.05 and 0.15) and the app,
//! either in-process (API + worker, like `rinha all`) or as the real binary in a child process
//! (for crash and signal tests).
//!
//! ```ignore
//! let stack = spawn_stack().await;
//! let (status, _) = stack.post_payment(&new_id(), "19.90").await;
//! assert_eq!(status, 202);
//! stack.wait_until_booked(1, EVENTUALLY).await;
//! ```
//!
//! Every "wait until" here polls an observable state (the summary, a payment's status, a
//! process's exit) with a bounded deadline, and panics with what it last saw when the deadline
//! passes; nothing sleeps a guessed time.

use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use rinha::api::Surface;
use rinha::config::Settings;
use rinha::ledger::{self, Ledger};
use rinha::metrics::Metrics;
use rinha::shutdown::{self, ShutdownTrigger};
use rinha::startup::{self, RunningServer, RunningWorker};
use rinha_emulator::{self as emulator, EmulatorConfig, EmulatorHandle, Fee, RunningEmulator};
use serde_json::Value;
use tempfile::TempDir;

use super::process::{POLL, ServerProcess, log_tail};
use super::{TestPostgres, TestRedis, free_port};

/// The bound for "it eventually happens" in tests: generous for a loaded 2-core machine, and
/// only ever reached when something is broken.
pub const EVENTUALLY: Duration = Duration::from_secs(15);

/// Settings every stack starts with; a test's own `set` calls win over these.
///
/// - `audit_slack_ms` is large so that a processor delay of a second or two, which tests script
///   to keep a call in flight, does not make routing prefer the dearer processor: slowness-aware
///   routing is pinned down by the unit tests of `worker::routing`.
/// - `processor_timeout_ms` is short so that a hanging processor costs a test seconds, not tens.
const BASE_SETTINGS: &[(&str, &str)] = &[
    ("listen", "127.0.0.1:0"),
    ("worker_listen", "127.0.0.1:0"),
    ("purge_enabled", "true"),
    ("processor_timeout_ms", "3000"),
    ("audit_slack_ms", "10000"),
    ("drain_deadline_ms", "3000"),
    ("worker_name", "worker-in-process"),
];

/// How every id of [`new_id`] begins, to find them in a request body.
pub const ID_PREFIX: &str = "7e57a11e-0000-4000-8000-";

/// A distinct, valid, lowercase UUID on every call (within this test binary).
pub fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{ID_PREFIX}{n:012x}")
}

/// Starts a stack with the default settings and the app in-process.
pub async fn spawn_stack() -> Stack {
    stack().spawn().await
}

/// A stack to configure before [`StackBuilder::spawn`].
pub fn stack() -> StackBuilder {
    StackBuilder {
        settings: BASE_SETTINGS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        api: true,
        worker: true,
        redis_persists: true,
    }
}

/// What to start; see [`stack`].
pub struct StackBuilder {
    settings: Vec<(String, String)>,
    api: bool,
    worker: bool,
    redis_persists: bool,
}

impl StackBuilder {
    /// Overrides one setting (a documented key, e.g. `processor_timeout_ms`).
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.settings.retain(|(k, _)| k != key);
        self.settings.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Starts the API in-process but no worker: payments stay queued until the test starts
    /// one ([`Stack::start_worker`] or a child process).
    pub fn without_worker(mut self) -> Self {
        self.worker = false;
        self
    }

    /// Starts neither API nor worker in-process: the test runs the binary itself
    /// ([`Stack::spawn_child`]).
    pub fn without_app(mut self) -> Self {
        self.api = false;
        self.worker = false;
        self
    }

    /// Runs Redis without persistence, so that a restart loses everything (every deployment
    /// runs it with an append-only file; this is for tests of losing it anyway).
    pub fn redis_without_persistence(mut self) -> Self {
        self.redis_persists = false;
        self
    }

    pub async fn spawn(self) -> Stack {
        // Like every deployment: an append-only file, so a restart of Redis loses nothing
        // acknowledged.
        let redis = if self.redis_persists {
            TestRedis::start_with(&["--appendonly", "yes", "--appendfsync", "everysec"]).await
        } else {
            TestRedis::start().await
        };
        let ledger_url = TestPostgres::shared().await.fresh_database().await;
        let mut migrations = Ledger::connect_one(&ledger_url)
            .await
            .expect("connecting to the fresh database");
        ledger::migrate::run(&mut migrations)
            .await
            .expect("migrations apply");
        let default = start_emulator("0.05").await;
        let fallback = start_emulator("0.15").await;

        let mut settings = vec![
            ("redis_url".to_owned(), redis.url()),
            ("postgres_url".to_owned(), ledger_url.clone()),
            ("default_url".to_owned(), default.url()),
            ("fallback_url".to_owned(), fallback.url()),
        ];
        settings.extend(self.settings);
        let mut stack = Stack {
            base_url: String::new(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("reqwest client"),
            default,
            fallback,
            redis,
            ledger_url,
            settings,
            api: None,
            worker: None,
        };
        if self.api {
            let settings = stack.settings(&[]);
            let api = startup::spawn_api(&settings, Arc::new(Metrics::default()), Surface::Public)
                .await
                .expect("the API starts");
            stack.base_url = format!("http://{}", api.addr);
            stack.api = Some(api);
        }
        if self.worker {
            stack.start_worker(&[]).await;
        }
        stack
    }
}

async fn start_emulator(fee: &str) -> RunningEmulator {
    emulator::start(EmulatorConfig {
        fee: fee.parse::<Fee>().expect("a valid fee"),
        ..EmulatorConfig::default()
    })
    .await
    .expect("the emulator starts")
}

/// A running stack. Everything stops when it is dropped (at the end of the test).
pub struct Stack {
    /// The API's base URL (`http://127.0.0.1:PORT`); point it at a child's API to drive that.
    pub base_url: String,
    pub client: reqwest::Client,
    /// The cheaper processor (fee 0.05).
    pub default: RunningEmulator,
    /// The dearer processor (fee 0.15).
    pub fallback: RunningEmulator,
    pub redis: TestRedis,
    /// The ledger database, migrated.
    pub ledger_url: String,
    settings: Vec<(String, String)>,
    api: Option<RunningServer>,
    worker: Option<(ShutdownTrigger, RunningWorker)>,
}

/// An HTTP answer of the API.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body as JSON; panics (showing the body) when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "{} answered a body that is not JSON ({e}): {:?}",
                self.status, self.text
            )
        })
    }

    /// The `Content-Type` header, or "".
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Stack {
    /// The default processor's test handle.
    pub fn default_processor(&self) -> &EmulatorHandle {
        self.default.handle()
    }

    /// The fallback processor's test handle.
    pub fn fallback_processor(&self) -> &EmulatorHandle {
        self.fallback.handle()
    }

    /// The stack's settings with `extra` on top (e.g. another `worker_name`).
    pub fn settings(&self, extra: &[(&str, &str)]) -> Settings {
        let pairs: Vec<(&str, &str)> = self
            .settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra.iter().copied())
            .collect();
        Settings::with_overrides(&pairs).expect("test settings are valid")
    }

    /// Starts an in-process worker (the stack's settings plus `extra`). A stack has at most
    /// one in-process worker.
    pub async fn start_worker(&mut self, extra: &[(&str, &str)]) {
        assert!(self.worker.is_none(), "this stack already runs a worker");
        let settings = self.settings(extra);
        let (trigger, shutdown) = shutdown::channel();
        let worker = startup::spawn_worker(&settings, Arc::new(Metrics::default()), shutdown)
            .await
            .expect("the worker starts");
        self.worker = Some((trigger, worker));
    }

    /// `POST /payments` with `{"correlationId": id, "amount": <amount, verbatim>}`; returns the
    /// status and the JSON body.
    pub async fn post_payment(&self, id: &str, amount: &str) -> (StatusCode, Value) {
        let reply = self.post_payment_reply(id, amount).await;
        (reply.status, reply.json())
    }

    /// `POST /payments` like [`Stack::post_payment`], returning the whole reply (headers too).
    pub async fn post_payment_reply(&self, id: &str, amount: &str) -> Reply {
        self.post_raw(
            "/payments",
            Some("application/json"),
            format!(r#"{{"correlationId":"{id}","amount":{amount}}}"#),
        )
        .await
    }

    /// `POST path` with a raw body and an optional `Content-Type`.
    pub async fn post_raw(&self, path: &str, content_type: Option<&str>, body: String) -> Reply {
        let mut request = self.client.post(format!("{}{path}", self.base_url));
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        into_reply(request.body(body).send().await).await
    }

    /// Any request to `path` on the API.
    pub async fn request(&self, method: reqwest::Method, path: &str) -> Reply {
        let request = self
            .client
            .request(method, format!("{}{path}", self.base_url));
        into_reply(request.send().await).await
    }

    /// `GET /payments-summary?<query>`; panics unless it answers 200.
    pub async fn summary(&self, query: &str) -> Value {
        let reply = self.summary_raw(query).await;
        assert_eq!(reply.status, StatusCode::OK, "summary?{query}: {reply:?}");
        reply.json()
    }

    /// `GET /payments-summary?<query>`, whatever it answers.
    pub async fn summary_raw(&self, query: &str) -> Reply {
        self.request(reqwest::Method::GET, &format!("/payments-summary?{query}"))
            .await
    }

    /// `GET /payments/{id}`: the status and the JSON body.
    pub async fn payment_status(&self, id: &str) -> (StatusCode, Value) {
        let reply = self
            .request(reqwest::Method::GET, &format!("/payments/{id}"))
            .await;
        (reply.status, reply.json())
    }

    /// Waits until the summary counts at least `n` payments (both processors together) and
    /// returns that summary.
    pub async fn wait_until_booked(&self, n: u64, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let summary = self.summary("").await;
            if booked_count(&summary) >= n {
                return summary;
            }
            assert!(
                Instant::now() < deadline,
                "{n} payment(s) not booked within {timeout:?}; summary: {summary}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `GET /payments/{id}` says `status` and returns its body.
    pub async fn wait_for_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (code, body) = self.payment_status(id).await;
            if code == StatusCode::OK && body["status"] == status {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "payment {id} not `{status}` within {timeout:?}; last answer: {code} {body}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Every ledger row as (id, processor, amount in cents, requestedAt in ms), read straight
    /// from PostgreSQL: for "booked exactly once" and for when no API is running.
    pub async fn ledger_rows(&self) -> Vec<(String, String, i64, i64)> {
        let client = Ledger::connect_one(&self.ledger_url)
            .await
            .expect("connecting to the ledger");
        client
            .query(
                "SELECT correlation_id::text, processor, amount_cents, requested_at_ms
                 FROM payments ORDER BY requested_at_ms",
                &[],
            )
            .await
            .expect("reading the ledger")
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
            .collect()
    }

    /// Waits until the ledger holds at least `n` rows and returns them.
    pub async fn wait_for_ledger_rows(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<(String, String, i64, i64)> {
        let deadline = Instant::now() + timeout;
        loop {
            let rows = self.ledger_rows().await;
            if rows.len() >= n {
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "{n} ledger row(s) not written within {timeout:?}; rows: {rows:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// A plain connection to this stack's Redis, for tests that look at its keys directly.
    pub async fn redis_connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("connecting to redis")
    }

    /// The in-process worker's `GET /metrics` text.
    pub async fn worker_metrics(&self) -> String {
        let (_, worker) = self
            .worker
            .as_ref()
            .expect("this stack runs an in-process worker");
        let url = format!("http://{}/metrics", worker.operations.addr);
        let response = self.client.get(url).send().await.expect("worker /metrics");
        response.text().await.expect("reading /metrics")
    }

    /// Appends an entry to the payments stream as the enqueue script writes it, bypassing the
    /// dedupe window: what a Redis that lost its append-only file's tail delivers again.
    pub async fn add_stream_entry(&self, id: &str, cents: i64) {
        let _: String = redis::cmd("XADD")
            .arg(rinha::queue::keys::PAYMENTS)
            .arg("*")
            .arg("id")
            .arg(id)
            .arg("cents")
            .arg(cents)
            .arg("at")
            .arg(rinha::domain::now_millis())
            .query_async(&mut self.redis_connection().await)
            .await
            .expect("XADD");
    }

    /// Waits until the payments stream is empty: every entry booked (or dead-lettered) and
    /// acknowledged.
    pub async fn wait_until_stream_empty(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let length = self.stream_length().await;
            if length == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{length} stream entries left after {timeout:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Entries in the payments stream: queued, or held by a worker until it books them.
    pub async fn stream_length(&self) -> u64 {
        redis::cmd("XLEN")
            .arg(rinha::queue::keys::PAYMENTS)
            .query_async(&mut self.redis_connection().await)
            .await
            .expect("XLEN")
    }

    /// The amount (cents, as text) Redis's dedupe window holds for `id`: `Some` once the API
    /// accepted the payment (and for the stack's `dedupe_window_ms` after that).
    pub async fn accepted_in_redis(&self, id: &str) -> Option<String> {
        let window = rinha::queue::DedupeWindow::new(self.settings(&[]).dedupe_window);
        let queue = rinha::queue::Queue::connect(&self.redis.url(), Duration::from_secs(2))
            .await
            .expect("connecting to redis")
            .with_dedupe_window(window);
        let id = rinha::domain::CorrelationId::parse(id).expect("a valid correlation id");
        queue
            .accepted_amount(&id)
            .await
            .expect("reading the dedupe window")
            .map(|amount| amount.cents().to_string())
    }

    /// Runs `rinha <role>` with this stack's settings (plus `extra`) as `RINHA_*` variables,
    /// listening on fresh ports, and waits until it is ready (its health endpoints answer 200).
    pub async fn spawn_child(&self, role: &str, extra: &[(&str, &str)]) -> AppProcess {
        let dir = tempfile::Builder::new()
            .prefix("rinha-app-")
            .tempdir()
            .expect("temp dir for the app's log");
        let log = dir.path().join("rinha.log");
        let api_port = free_port();
        let ops_port = free_port();
        let api_listen = format!("127.0.0.1:{api_port}");
        let ops_listen = format!("127.0.0.1:{ops_port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rinha"));
        cmd.arg(role)
            .env_remove("RINHA_CONFIG")
            .env("RUST_LOG", "info,rinha=debug");
        let own = [
            ("listen", api_listen.as_str()),
            ("worker_listen", ops_listen.as_str()),
        ];
        for (key, value) in self
            .settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(own)
            .chain(extra.iter().copied())
        {
            cmd.env(format!("RINHA_{}", key.to_ascii_uppercase()), value);
        }
        let process = ServerProcess::spawn("rinha", cmd, &log, None, "KILL")
            .unwrap_or_else(|e| panic!("{e}"));
        let serves_api = matches!(role, "api" | "all");
        let serves_worker = matches!(role, "worker" | "all");
        let mut child = AppProcess {
            process,
            log,
            api_url: serves_api.then(|| format!("http://{api_listen}")),
            ops_url: serves_worker.then(|| format!("http://{ops_listen}")),
            _dir: dir,
        };
        child.wait_ready(&self.client, EVENTUALLY).await;
        child
    }
}

async fn into_reply(result: reqwest::Result<reqwest::Response>) -> Reply {
    let response = result.expect("the API answers");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("reading the body");
    Reply {
        status,
        headers,
        text,
    }
}

/// Payments counted by a summary, both processors together.
pub fn booked_count(summary: &Value) -> u64 {
    ["default", "fallback"]
        .iter()
        .map(|p| summary[p]["totalRequests"].as_u64().unwrap_or(0))
        .sum()
}

/// The `rinha` binary running as a child process. Killed (SIGKILL) when dropped.
pub struct AppProcess {
    process: ServerProcess,
    log: PathBuf,
    /// `http://127.0.0.1:PORT` of its API (roles `api` and `all`).
    pub api_url: Option<String>,
    /// `http://127.0.0.1:PORT` of its worker's health/metrics listener (`worker`, `all`).
    pub ops_url: Option<String>,
    _dir: TempDir,
}

impl AppProcess {
    /// Everything it logged so far.
    pub fn log(&self) -> String {
        log_tail(&self.log, 64 * 1024)
    }

    async fn wait_ready(&mut self, client: &reqwest::Client, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let urls: Vec<String> = [&self.api_url, &self.ops_url]
            .into_iter()
            .flatten()
            .map(|base| format!("{base}/healthz"))
            .collect();
        for url in urls {
            loop {
                if let Some(status) = self.process.exited() {
                    panic!("rinha exited before ready ({status}):\n{}", self.log());
                }
                let ok = client
                    .get(&url)
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::OK);
                if ok {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{url} not healthy within {timeout:?}:\n{}",
                    self.log()
                );
                tokio::time::sleep(POLL).await;
            }
        }
    }

    /// Sends a signal by name (`TERM`, `INT`, …) without waiting.
    pub fn signal(&mut self, signal: &str) {
        self.process.signal(signal);
    }

    /// SIGKILL now: a crash.
    pub fn kill(&mut self) -> ExitStatus {
        self.process.kill()
    }

    /// Waits for the process to exit, for at most `timeout`; `None` if it is still running.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.process.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
