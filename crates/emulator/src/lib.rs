//! Payment-processor emulator: an in-memory stand-in for the official Rinha de Backend 2025
//! payment processor (zanfranceschi/rinha-de-backend-2025-payment-processor).
//!
//! It answers every endpoint with the official status codes and bodies:
//!
//! | endpoint | answer |
//! |---|---|
//! | `POST /payments` | waits the delay; 500 if failing (nothing stored); 422 on a stored id; else stores (amount rounded to cents, `requestedAt` verbatim) and 200. At most 800 in flight + 500 queued, else 429. A client that hangs up does not cancel it. |
//! | `GET /payments/service-health` | `{"failing", "minResponseTime"}`; 1 call per 5 s window, 2 more wait, else 429 |
//! | `GET /payments/{id}` | no delay: the stored payment, `requestedAt` as UTC wall time without a zone designator (`2025-07-15T12:34:56.123`, the official `timestamp` column read back by .NET), or 404; behind the same 800 + 500 admission limit as `POST` |
//! | `/admin/...` (`X-Rinha-Token`) | summary, token / delay / failure configuration, purge; 401 on a wrong token |
//!
//! Money is exact (integer cents, decimal fee). Beyond the official behaviour, tests can
//! script faults ([`Fault`]) and watch the processor through an [`EmulatorHandle`].
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use rinha_emulator::{self as emulator, EmulatorConfig, Fault};
//!
//! let processor = emulator::start(EmulatorConfig::default()).await?;
//! processor.handle().faults().push(Fault::status_retry_after(429, 1), 2);
//! // ... point the service at processor.url() ...
//! processor.shutdown().await
//! # }
//! ```

mod admin;
mod body;
mod config;
mod correlation;
mod decimal;
mod faults;
mod fee;
mod handle;
mod health;
mod limits;
mod money;
mod payments;
mod reply;
mod server;
mod settings;
mod state;
mod store;
mod timestamp;

pub use admin::TOKEN_HEADER;
pub use config::EmulatorConfig;
pub use correlation::{CorrelationId, InvalidCorrelationId};
pub use decimal::DecimalError;
pub use faults::{Fault, Faults};
pub use fee::Fee;
pub use handle::EmulatorHandle;
pub use server::{RunningEmulator, serve, start};
pub use store::{StoredPayment, Totals};
