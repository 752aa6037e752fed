//! The durable queue: a Redis stream with a consumer group, plus the dedupe and attempt hashes.
//!
//! The API's whole request path is one call to [`Queue::enqueue`], a Lua script that dedupes,
//! checks the deadline and appends to the stream atomically.
//!
//! One file per side of the queue: `intake` (enqueue and the dedupe lookups), `consumer` (what
//! workers read, reclaim and acknowledge), `attempts` (the attempt records), `health` (the
//! processors' shared health and its poll lease), `admin` (depth, Redis's liveness, purge);
//! `dedupe` is the window's arithmetic and `error` what can go wrong.

mod admin;
mod attempts;
mod consumer;
mod dedupe;
mod error;
mod health;
mod intake;
pub mod keys;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, Value};

pub use admin::QueueDepth;
pub use attempts::AttemptWrite;
pub use consumer::QueuedPayment;
pub use dedupe::{DEFAULT_DEDUPE_WINDOW, DedupeWindow};
pub use error::QueueError;
use error::classify;
pub use intake::{EnqueueOutcome, Found, PaymentView};

/// A handle on the queue; cheap to clone (one multiplexed, self-reconnecting connection).
#[derive(Clone)]
pub struct Queue {
    conn: ConnectionManager,
    /// A second connection for lookups that must not wait behind the first one's commands.
    lookups: ConnectionManager,
    dedupe: DedupeWindow,
    /// Where this handle's next reclaim scan of the pending entries starts (see reclaim.lua).
    reclaim_from: Arc<Mutex<String>>,
    /// Malformed stream entries this handle dead-lettered.
    malformed: Arc<AtomicU64>,
}

/// How every handle reaches Redis at `url`: over TCP without Nagle's algorithm, so that a
/// command written while another is on its way is not held for an acknowledgement (the
/// multiplexed connections interleave concurrent requests).
fn connection_info(url: &str) -> Result<redis::ConnectionInfo, QueueError> {
    let info = url.into_connection_info()?;
    let tcp = info.tcp_settings().clone().set_nodelay(true);
    Ok(info.set_tcp_settings(tcp))
}

impl Queue {
    /// Connects (retrying in the background once connected) and makes sure the group exists.
    pub async fn connect(url: &str, response_timeout: Duration) -> Result<Self, QueueError> {
        let client = redis::Client::open(connection_info(url)?)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(response_timeout))
            .set_connection_timeout(Some(response_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client.clone(), config.clone()).await?;
        let lookups = ConnectionManager::new_with_config(client, config).await?;
        let queue = Self {
            conn,
            lookups,
            dedupe: DedupeWindow::new(DEFAULT_DEDUPE_WINDOW),
            reclaim_from: Arc::new(Mutex::new("-".to_owned())),
            malformed: Arc::new(AtomicU64::new(0)),
        };
        queue.ensure_group().await?;
        // Loaded now so that its EVALSHA carries the script's no-writes flag: an EVALSHA of an
        // unknown script is held like a write while Redis holds writes, which is when the
        // lookup is needed.
        let _: String = intake::accepted_script()
            .prepare_invoke()
            .load_async(&mut queue.lookups.clone())
            .await
            .map_err(classify)?;
        Ok(queue)
    }

    /// The same queue with another dedupe window (the default is [`DEFAULT_DEDUPE_WINDOW`]).
    pub fn with_dedupe_window(mut self, window: DedupeWindow) -> Self {
        self.dedupe = window;
        self
    }

    /// Creates the consumer group (reading from the stream's start) unless it exists.
    pub async fn ensure_group(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let created: Result<Value, _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(keys::PAYMENTS)
            .arg(keys::GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }
}

#[cfg(test)]
mod connection_tests {
    use super::connection_info;

    #[test]
    fn tcp_connections_send_each_command_at_once() {
        // With Nagle's algorithm a command written while an earlier one on the same multiplexed
        // connection is unacknowledged waits for that acknowledgement; compose reaches Redis over TCP.
        let info = connection_info("redis://127.0.0.1:6379").unwrap();
        assert!(info.tcp_settings().nodelay());
    }
}
