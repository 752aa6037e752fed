//! Real servers for integration tests: `redis-server` and PostgreSQL 17, each on its own free
//! loopback port in its own temporary directory.
//!
//! The project's rule is "no mocks of Redis or PostgreSQL": the behaviours we pin down (atomic
//! dedupe + XADD, advisory-locked migrations, "Redis down → 503") only mean something against the
//! real servers. Each test binary includes this directory with `mod support;` and uses what it
//! needs:
//!
//! ```ignore
//! mod support;
//! use support::{TestPostgres, TestRedis};
//!
//! #[tokio::test]
//! async fn accepted_payment_is_booked() {
//!     let redis = TestRedis::start().await;           // one per test: starts in milliseconds
//!     let pg = TestPostgres::shared().await;         // one server per test binary …
//!     let db_url = pg.fresh_database().await;         // … and a fresh database per test
//!     // configure the app with redis.url() and db_url, then drive it over HTTP
//! }
//! ```
//!
//! `spawn_stack()` (in `app`) puts it all together: Redis, a fresh migrated database, two
//! processor emulators and the app, in-process or as the real binary in a child process.
//!
//! Where the binaries come from: `RINHA_REDIS_BIN` (else `redis-server` on PATH) and
//! `RINHA_PG_BINDIR` (else `pg_config --bindir`, `/usr/lib/postgresql/17/bin`, PATH).
//! `tests/tools/install-deps.sh` writes both into `target/tools/env.sh`.
//!
//! Everything here is safe to use from tests running in parallel threads: ports come from a
//! process-wide cursor, every server has its own directory, and nothing is global except the
//! optional shared PostgreSQL, which is initialised once.

// Every test binary compiles this module on its own and uses only part of it; helpers and
// re-exports unused in one binary are not dead code in the project.
#![allow(dead_code, unused_imports)]

mod app;
mod ports;
mod postgres;
mod privilege;
mod process;
mod redis;

pub use self::app::*;
pub use self::ports::free_port;
pub use self::postgres::{TestPostgres, pg_bindir};
pub use self::privilege::{ServerUser, ensure_unprivileged_can_reach};
pub use self::redis::{TestRedis, redis_bin};
