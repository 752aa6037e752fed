//! Layered settings: built-in defaults < optional TOML file (`RINHA_CONFIG`) < `RINHA_*` env.
//!
//! This is the only module that reads the process environment; everything else receives typed
//! values from here.

use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::{Fee, Processor, settlement_delay};

/// Where a server listens: a TCP address or a unix socket path (`unix:/path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(String),
    Unix(PathBuf),
}

impl ListenAddr {
    pub fn parse(text: &str) -> Self {
        match text.strip_prefix("unix:") {
            Some(path) => ListenAddr::Unix(PathBuf::from(path)),
            None => ListenAddr::Tcp(text.to_owned()),
        }
    }
}

/// `RINHA_*` variables that belong to the tooling (config file path, binaries the tests and
/// the native runner use), not to the service's settings.
const TOOLING_VARS: &[&str] = &["config", "pg_bindir", "redis_bin", "nginx_bin", "pg_user"];

/// Every setting, typed and validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: ListenAddr,
    pub worker_listen: ListenAddr,
    pub redis_url: String,
    pub postgres_url: String,
    pub postgres_pool_size: usize,
    /// Opening a PostgreSQL connection (handshake included).
    pub postgres_connect_timeout: Duration,
    /// Waiting for a free connection of the pool.
    pub postgres_pool_wait: Duration,
    pub processors: [ProcessorSettings; 2],
    pub processor_timeout: Duration,
    pub enqueue_deadline: Duration,
    /// How long an accepted correlation id is remembered for deduplication (at least; see
    /// `queue::DedupeWindow`).
    pub dedupe_window: Duration,
    pub audit_slack: Duration,
    pub purge_enabled: bool,
    pub purge_token: Option<String>,
    pub drain_deadline: Duration,
    pub worker_name: String,
    /// Calls in flight per processor, all workers together (each takes an equal share).
    pub max_inflight: usize,
    /// Worker processes sharing the processors; each takes an equal share of the limits.
    pub workers: usize,
    /// Processor calls per second, both processors together (0 = unlimited).
    pub max_calls_per_sec: u32,
    pub reclaim_idle: Duration,
    pub unknown_grace: Duration,
    pub health_poll_interval: Duration,
    /// How often a failing processor gets one real call to notice its recovery.
    pub probe_interval: Duration,
    /// How long a processor that answered 401/403/404 is left alone.
    pub misconfigured_pause: Duration,
    /// After a read that drained the stream, or once a slot frees while every task slot was taken,
    /// how long the worker waits before reading again.
    pub read_linger: Duration,
    /// How long a payment may wait for the cheaper processor once the dearer one could take
    /// it (0: not at all); see `domain::settlement`.
    pub settlement_delay: Duration,
    /// Tokio worker threads; `None` lets the role choose (one for `api`: under a fraction of a
    /// CPU, a second thread only adds hand-offs between threads).
    pub runtime_threads: Option<usize>,
    /// How long the runtime may make no progress before the process aborts (`None`: off).
    pub watchdog: Option<Duration>,
    pub process: ProcessEnv,
}

/// One processor's address and fee.
#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    pub processor: Processor,
    pub url: String,
    pub fee: Fee,
}

impl Settings {
    pub fn processor(&self, p: Processor) -> &ProcessorSettings {
        &self.processors[p.index()]
    }

    /// The ledger pool's size and timeouts.
    pub fn ledger_pool(&self) -> crate::ledger::PoolSettings {
        crate::ledger::PoolSettings {
            size: self.postgres_pool_size,
            connect_timeout: self.postgres_connect_timeout,
            wait_timeout: self.postgres_pool_wait,
        }
    }
}

/// Variables owned by the process supervisor, handed on to telemetry and sd_notify.
#[derive(Debug, Clone, Default)]
pub struct ProcessEnv {
    pub rust_log: Option<String>,
    pub notify_socket: Option<String>,
    /// True when started by systemd (`JOURNAL_STREAM` or `INVOCATION_ID` present).
    pub under_systemd: bool,
}

/// The raw, file- and env-facing shape. Field names are the documented keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    listen: String,
    worker_listen: String,
    redis_url: String,
    postgres_url: String,
    postgres_pool_size: usize,
    postgres_connect_timeout_ms: u64,
    postgres_pool_wait_ms: u64,
    default_url: String,
    fallback_url: String,
    #[serde(deserialize_with = "decimal_text")]
    default_fee: String,
    #[serde(deserialize_with = "decimal_text")]
    fallback_fee: String,
    processor_timeout_ms: u64,
    enqueue_deadline_ms: u64,
    dedupe_window_ms: u64,
    audit_slack_ms: u64,
    purge_enabled: bool,
    purge_token: Option<String>,
    drain_deadline_ms: u64,
    worker_name: Option<String>,
    max_inflight: usize,
    workers: usize,
    max_calls_per_sec: u32,
    reclaim_idle_ms: Option<u64>,
    unknown_grace_ms: Option<u64>,
    health_poll_interval_ms: u64,
    probe_interval_ms: u64,
    misconfigured_pause_ms: u64,
    read_linger_ms: u64,
    settlement_delay_ms: Option<u64>,
    traffic_span_ms: u64,
    runtime_threads: Option<usize>,
    watchdog_ms: u64,
}

impl Default for RawSettings {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:9999".into(),
            worker_listen: "127.0.0.1:9100".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            postgres_url: "postgres://rinha@127.0.0.1:5432/rinha".into(),
            postgres_pool_size: 4,
            postgres_connect_timeout_ms: 2_000,
            postgres_pool_wait_ms: 2_000,
            default_url: "http://127.0.0.1:8001".into(),
            fallback_url: "http://127.0.0.1:8002".into(),
            default_fee: "0.05".into(),
            fallback_fee: "0.15".into(),
            processor_timeout_ms: 10_000,
            enqueue_deadline_ms: 1_000,
            dedupe_window_ms: crate::queue::DEFAULT_DEDUPE_WINDOW.as_millis() as u64,
            audit_slack_ms: 1_500,
            purge_enabled: false,
            purge_token: None,
            drain_deadline_ms: 8_000,
            worker_name: None,
            max_inflight: 600,
            workers: 1,
            max_calls_per_sec: 1_500,
            reclaim_idle_ms: None,
            unknown_grace_ms: None,
            health_poll_interval_ms: 5_200,
            probe_interval_ms: 250,
            misconfigured_pause_ms: 10_000,
            read_linger_ms: 30,
            settlement_delay_ms: None,
            traffic_span_ms: 60_000,
            runtime_threads: None,
            watchdog_ms: 5_000,
        }
    }
}

/// Accepts a fee written as a string (`"0.05"`) or a number (`0.05`: figment parses env values),
/// keeping the decimal text so it is parsed exactly.
fn decimal_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        S(String),
        F(f64),
        U(u64),
    }
    Ok(match Text::deserialize(d)? {
        Text::S(s) => s,
        Text::F(f) => f.to_string(),
        Text::U(u) => u.to_string(),
    })
}

/// `watchdog_ms`: 0 turns the watchdog off; otherwise at least 100 ms, because a shorter one
/// would abort a healthy process over an ordinary scheduling hiccup.
fn watchdog(ms: u64) -> Result<Option<Duration>, ConfigError> {
    match ms {
        0 => Ok(None),
        1..100 => Err(ConfigError::Key {
            key: "watchdog_ms",
            message: "must be 0 (off) or at least 100".into(),
        }),
        ms => Ok(Some(Duration::from_millis(ms))),
    }
}

/// `read_linger_ms`: 0 turns it off; above a second it would only delay payments, since a
/// batch gains nothing once it fills a round trip.
fn read_linger(ms: u64) -> Result<Duration, ConfigError> {
    if ms > 1_000 {
        return Err(ConfigError::Key {
            key: "read_linger_ms",
            message: "must be at most 1000".into(),
        });
    }
    Ok(Duration::from_millis(ms))
}

/// `reclaim_idle_ms`: by default 2 × the processor timeout, so a dead consumer's entries are
/// taken over only once any call it could still be waiting on has surely ended. At least 100 ms:
/// live workers refresh their entries every quarter of it, and reclaim that often (0 spins).
fn reclaim_idle(ms: Option<u64>, processor_timeout: Duration) -> Result<Duration, ConfigError> {
    match ms {
        None => Ok(processor_timeout * 2),
        Some(0..100) => Err(ConfigError::Key {
            key: "reclaim_idle_ms",
            message: "must be at least 100 (entries are refreshed every quarter of it)".into(),
        }),
        Some(ms) => Ok(Duration::from_millis(ms)),
    }
}

/// `unknown_grace_ms`: the longest a processor may still store a call after it was sent; by
/// default 2 × the processor timeout. Never below the timeout: a call that timed out was still
/// in the processor's delay then, so a "not found" sooner says nothing.
fn unknown_grace(ms: Option<u64>, processor_timeout: Duration) -> Result<Duration, ConfigError> {
    let grace = ms.map_or(processor_timeout * 2, Duration::from_millis);
    if grace < processor_timeout {
        return Err(ConfigError::Key {
            key: "unknown_grace_ms",
            message: format!(
                "must be at least processor_timeout_ms ({} ms)",
                processor_timeout.as_millis()
            ),
        });
    }
    Ok(grace)
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Figment(#[from] Box<figment::Error>),
    #[error("invalid configuration key `{key}`: {message}")]
    Key { key: &'static str, message: String },
}

impl Settings {
    /// Loads settings from the real process environment.
    pub fn load() -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(RawSettings::default()));
        if let Ok(path) = std::env::var("RINHA_CONFIG") {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed("RINHA_").ignore(TOOLING_VARS));
        let process = ProcessEnv {
            rust_log: std::env::var("RUST_LOG").ok(),
            notify_socket: std::env::var("NOTIFY_SOCKET").ok(),
            under_systemd: std::env::var_os("JOURNAL_STREAM").is_some()
                || std::env::var_os("INVOCATION_ID").is_some(),
        };
        Self::from_figment(figment, process)
    }

    /// Settings from defaults overridden by `overrides` (key, value) pairs; for tests.
    pub fn with_overrides(overrides: &[(&str, &str)]) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(RawSettings::default()));
        for (key, value) in overrides {
            let value: figment::value::Value = value
                .parse()
                .unwrap_or_else(|_| figment::value::Value::from(value.to_string()));
            figment = figment.merge((*key, value));
        }
        Self::from_figment(figment, ProcessEnv::default())
    }

    fn from_figment(figment: Figment, process: ProcessEnv) -> Result<Self, ConfigError> {
        let raw: RawSettings = figment.extract().map_err(Box::new)?;
        let fee = |key: &'static str, text: &str| {
            Fee::parse(text).map_err(|e| ConfigError::Key {
                key,
                message: e.to_string(),
            })
        };
        let url = |key: &'static str, text: String| {
            if text.starts_with("http://") || text.starts_with("https://") {
                Ok(text.trim_end_matches('/').to_owned())
            } else {
                Err(ConfigError::Key {
                    key,
                    message: format!("`{text}` is not an http(s) URL"),
                })
            }
        };
        let positive = |key: &'static str, v: u64| {
            if v == 0 {
                Err(ConfigError::Key {
                    key,
                    message: "must be greater than 0".into(),
                })
            } else {
                Ok(Duration::from_millis(v))
            }
        };
        if raw.postgres_pool_size == 0 {
            return Err(ConfigError::Key {
                key: "postgres_pool_size",
                message: "must be greater than 0".into(),
            });
        }
        if !(1..=800).contains(&raw.max_inflight) {
            return Err(ConfigError::Key {
                key: "max_inflight",
                message: "must be between 1 and 800 (the processors' own limit)".into(),
            });
        }
        if !(1..=raw.max_inflight).contains(&raw.workers) {
            return Err(ConfigError::Key {
                key: "workers",
                message: "must be between 1 and max_inflight".into(),
            });
        }
        let processor_timeout = positive("processor_timeout_ms", raw.processor_timeout_ms)?;
        let fees = [
            fee("default_fee", &raw.default_fee)?,
            fee("fallback_fee", &raw.fallback_fee)?,
        ];
        let worker_name = raw.worker_name.unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "host".into());
            format!("worker-{host}-{}", std::process::id())
        });
        Ok(Settings {
            listen: ListenAddr::parse(&raw.listen),
            worker_listen: ListenAddr::parse(&raw.worker_listen),
            redis_url: raw.redis_url,
            postgres_url: raw.postgres_url,
            postgres_pool_size: raw.postgres_pool_size,
            postgres_connect_timeout: positive(
                "postgres_connect_timeout_ms",
                raw.postgres_connect_timeout_ms,
            )?,
            postgres_pool_wait: positive("postgres_pool_wait_ms", raw.postgres_pool_wait_ms)?,
            processors: [
                ProcessorSettings {
                    processor: Processor::Default,
                    url: url("default_url", raw.default_url)?,
                    fee: fees[0],
                },
                ProcessorSettings {
                    processor: Processor::Fallback,
                    url: url("fallback_url", raw.fallback_url)?,
                    fee: fees[1],
                },
            ],
            processor_timeout,
            enqueue_deadline: positive("enqueue_deadline_ms", raw.enqueue_deadline_ms)?,
            dedupe_window: positive("dedupe_window_ms", raw.dedupe_window_ms)?,
            audit_slack: positive("audit_slack_ms", raw.audit_slack_ms)?,
            purge_enabled: raw.purge_enabled,
            purge_token: raw.purge_token.filter(|t| !t.is_empty()),
            drain_deadline: positive("drain_deadline_ms", raw.drain_deadline_ms)?,
            worker_name,
            max_inflight: raw.max_inflight,
            workers: raw.workers,
            max_calls_per_sec: raw.max_calls_per_sec,
            reclaim_idle: reclaim_idle(raw.reclaim_idle_ms, processor_timeout)?,
            unknown_grace: unknown_grace(raw.unknown_grace_ms, processor_timeout)?,
            health_poll_interval: positive("health_poll_interval_ms", raw.health_poll_interval_ms)?,
            // 0 would probe a failing processor with every payment, and retry a misconfigured
            // one at once: both loops the pauses exist to prevent.
            probe_interval: positive("probe_interval_ms", raw.probe_interval_ms)?,
            misconfigured_pause: positive("misconfigured_pause_ms", raw.misconfigured_pause_ms)?,
            read_linger: read_linger(raw.read_linger_ms)?,
            settlement_delay: match raw.settlement_delay_ms {
                Some(ms) => Duration::from_millis(ms),
                None => settlement_delay(fees, positive("traffic_span_ms", raw.traffic_span_ms)?),
            },
            runtime_threads: raw.runtime_threads.filter(|&n| n > 0),
            watchdog: watchdog(raw.watchdog_ms)?,
            process,
        })
    }
}

#[cfg(test)]
mod tests;
