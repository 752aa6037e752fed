//! How an emulator starts: the fee, the admin token, the limits and the initial behaviour.

use std::time::Duration;

use crate::fee::Fee;

/// Everything an emulator is started with. `Default` is the official processor's setup
/// (fee 0.05, token `123`, 800 + 500 in flight, health 1 call per 5 s with a queue of 2,
/// no delay, not failing); tests shrink the limits and the window to run fast.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Fee per transaction reported by the admin summary (0.05 default, 0.15 fallback).
    pub fee: Fee,
    /// Initial admin token expected in `X-Rinha-Token`.
    pub token: String,
    /// `POST /payments` processed at the same time.
    pub max_inflight: usize,
    /// `POST /payments` waiting for a processing slot; beyond that, 429.
    pub max_queued: usize,
    /// Length of the health endpoint's rate-limit window (one call per window).
    pub health_window: Duration,
    /// Health calls that may wait for a later window; beyond that, 429.
    pub health_queue: usize,
    /// Initial delay of `POST /payments`, in ms (what `PUT /admin/configurations/delay` sets).
    pub delay_ms: i32,
    /// Initial failure mode (what `PUT /admin/configurations/failure` sets).
    pub failure: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            fee: Fee::default(),
            token: "123".to_owned(),
            max_inflight: 800,
            max_queued: 500,
            health_window: Duration::from_secs(5),
            health_queue: 2,
            delay_ms: 0,
            failure: false,
        }
    }
}
