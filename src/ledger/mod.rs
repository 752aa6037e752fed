//! The ledger: PostgreSQL, the source of truth for what was paid, by whom, when.

pub mod migrate;
mod writer;

use std::collections::HashSet;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::NoTls;

use crate::domain::{Amount, CorrelationId, Millis, Processor};

pub use writer::{Booked, Booking, BookingWriter};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("postgres pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("invalid postgres url: {0}")]
    Config(String),
    /// A row the schema allows but the service never writes (e.g. an amount above the maximum).
    #[error("unexpected row in the ledger: {0}")]
    Corrupt(String),
}

/// Count and sum (in cents) of one processor's payments in a time range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessorTotals {
    pub count: i64,
    pub cents: i64,
}

/// The summary: totals per processor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub default: ProcessorTotals,
    pub fallback: ProcessorTotals,
}

/// A booked payment as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedPayment {
    pub processor: Processor,
    pub amount: Amount,
    pub requested_at: Millis,
}

/// The pool's size and how long anything may wait on PostgreSQL before it is an error: without
/// them a stopped or silent server holds every caller (the worker's booking, the summary) forever.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub size: usize,
    /// Opening one connection, handshake included; also bounds checking an idle one.
    pub connect_timeout: Duration,
    /// Waiting for a free connection of the pool.
    pub wait_timeout: Duration,
}

/// A pool of ledger connections.
#[derive(Clone)]
pub struct Ledger {
    pool: Pool,
}

impl Ledger {
    /// Builds the pool; connections open lazily.
    pub fn new(url: &str, pool: &PoolSettings) -> Result<Self, LedgerError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| LedgerError::Config(e.to_string()))?;
        config.connect_timeout(pool.connect_timeout);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool.size)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(pool.wait_timeout),
                create: Some(pool.connect_timeout),
                recycle: Some(pool.connect_timeout),
            })
            .build()
            .map_err(|e| LedgerError::Config(e.to_string()))?;
        Ok(Self { pool })
    }

    /// Opens one dedicated connection (for migrations).
    pub async fn connect_one(url: &str) -> Result<tokio_postgres::Client, LedgerError> {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::warn!(%err, "postgres connection closed");
            }
        });
        Ok(client)
    }

    /// Totals per processor whose `requested_at` lies in `[from, to]` (inclusive, ms).
    pub async fn summary(&self, from: Millis, to: Millis) -> Result<Summary, LedgerError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT processor, count(*), coalesce(sum(amount_cents), 0)::bigint
                 FROM payments WHERE requested_at_ms BETWEEN $1 AND $2 GROUP BY processor",
            )
            .await?;
        let mut summary = Summary::default();
        for row in client.query(&stmt, &[&from, &to]).await? {
            let totals = ProcessorTotals {
                count: row.get(1),
                cents: row.get(2),
            };
            match row.get::<_, &str>(0).parse() {
                Ok(Processor::Default) => summary.default = totals,
                Ok(Processor::Fallback) => summary.fallback = totals,
                Err(()) => {}
            }
        }
        Ok(summary)
    }

    /// The booking of one payment, if any.
    pub async fn booked(&self, id: &CorrelationId) -> Result<Option<BookedPayment>, LedgerError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT processor, amount_cents, requested_at_ms FROM payments
                 WHERE correlation_id = $1::text::uuid",
            )
            .await?;
        let Some(row) = client.query_opt(&stmt, &[&id.as_str()]).await? else {
            return Ok(None);
        };
        let corrupt = |what: String| LedgerError::Corrupt(format!("payment {id}: {what}"));
        let processor: &str = row.get(0);
        Ok(Some(BookedPayment {
            processor: processor
                .parse()
                .map_err(|()| corrupt(format!("processor `{processor}`")))?,
            amount: Amount::from_cents(row.get(1)).map_err(|e| corrupt(e.to_string()))?,
            requested_at: row.get(2),
        }))
    }

    /// Which of `ids` the ledger already has: one query for a whole batch read from the queue.
    pub async fn booked_among(
        &self,
        ids: &[CorrelationId],
    ) -> Result<HashSet<CorrelationId>, LedgerError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT correlation_id::text FROM payments
                 WHERE correlation_id = ANY($1::text[]::uuid[])",
            )
            .await?;
        let texts: Vec<&str> = ids.iter().map(CorrelationId::as_str).collect();
        Ok(client
            .query(&stmt, &[&texts])
            .await?
            .iter()
            .filter_map(|row| CorrelationId::parse(row.get::<_, &str>(0)).ok())
            .collect())
    }

    /// Deletes every booking.
    pub async fn purge(&self) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client.batch_execute("TRUNCATE payments").await?;
        Ok(())
    }

    /// True when a connection answers.
    pub async fn ping(&self) -> bool {
        match self.pool.get().await {
            Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
            Err(_) => false,
        }
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// A PostgreSQL that accepts connections and never answers (stopped, or its host gone
    /// quiet) must cost a caller the connect timeout, not forever.
    #[tokio::test]
    async fn a_server_that_never_answers_costs_the_connect_timeout_not_forever() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                open.push(socket);
            }
        });
        let ledger = Ledger::new(
            &format!("postgres://rinha@127.0.0.1:{port}/rinha"),
            &PoolSettings {
                size: 1,
                connect_timeout: Duration::from_millis(300),
                wait_timeout: Duration::from_millis(300),
            },
        )
        .unwrap();
        let started = Instant::now();
        let answered = tokio::time::timeout(Duration::from_secs(10), ledger.ping()).await;
        assert_eq!(answered, Ok(false), "ping gave up");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "gave up after {:?}",
            started.elapsed()
        );
        held.abort();
    }
}
