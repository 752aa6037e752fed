//! The knobs the admin endpoints turn at run time: delay, failure mode, admin token.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// The processor's current delay, failure mode and admin token.
///
/// Read on every request, written rarely (by the test's admin calls), so plain atomics and
/// a read-write lock: a request never waits behind another request.
#[derive(Debug)]
pub struct Settings {
    delay_ms: AtomicI32,
    failure: AtomicBool,
    token: RwLock<String>,
}

impl Settings {
    /// Settings with these initial values.
    pub fn new(delay_ms: i32, failure: bool, token: String) -> Self {
        Self {
            delay_ms: AtomicI32::new(delay_ms),
            failure: AtomicBool::new(failure),
            token: RwLock::new(token),
        }
    }

    /// The delay before a payment is answered, in ms (≤ 0 means none).
    pub fn delay_ms(&self) -> i32 {
        self.delay_ms.load(Ordering::Acquire)
    }

    /// Sets the delay; returns the previous one.
    pub fn set_delay_ms(&self, delay_ms: i32) -> i32 {
        self.delay_ms.swap(delay_ms, Ordering::AcqRel)
    }

    /// Whether payments fail (HTTP 500, nothing stored).
    pub fn failing(&self) -> bool {
        self.failure.load(Ordering::Acquire)
    }

    /// Sets the failure mode; returns the previous one.
    pub fn set_failure(&self, failure: bool) -> bool {
        self.failure.swap(failure, Ordering::AcqRel)
    }

    /// The admin token now expected.
    pub fn token(&self) -> String {
        self.token.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether `presented` is the admin token now expected.
    pub fn token_matches(&self, presented: &[u8]) -> bool {
        self.token
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_bytes()
            == presented
    }

    /// Replaces the admin token.
    pub fn set_token(&self, token: String) {
        *self.token.write().unwrap_or_else(|e| e.into_inner()) = token;
    }
}
