//! The ledger: PostgreSQL, the source of truth for what was paid, by whom, when.

pub mod migrate;
mod writer;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::domain::{Amount, CorrelationId, Millis, Processor};

pub use writer::{Booking, BookingWriter};

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

/// A pool of ledger connections.
#[derive(Clone)]
pub struct Ledger {
    pool: Pool,
}

impl Ledger {
    /// Builds the pool; connections open lazily.
    pub fn new(url: &str, pool_size: usize) -> Result<Self, LedgerError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| LedgerError::Config(e.to_string()))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
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
