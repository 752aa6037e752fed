//! rinha: a payment intermediary built to the Rinha de Backend 2025 rules.
//!
//! The data's path: [`api`] takes payments and puts them on the [`queue`]; the [`worker`]
//! routes each to a [`processor`] and books the result in the [`ledger`], which the summary
//! reads. [`config`], [`group_commit`], [`telemetry`], [`shutdown`], [`watchdog`] and
//! [`startup`] hold the process together.

pub mod api;
pub mod config;
pub mod domain;
#[doc(hidden)]
pub mod fuzzing;
pub mod group_commit;
pub mod ledger;
pub mod metrics;
pub mod notify;
pub mod processor;
pub mod queue;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
pub mod watchdog;
pub mod worker;
