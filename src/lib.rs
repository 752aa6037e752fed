//! rinha: a payment intermediary built to the Rinha de Backend 2025 rules.

pub mod emulator;
